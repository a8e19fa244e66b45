"""Household membership: binding an address, the approvers' queue, invites."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.schemas.common import PageArgs, Text, labelled, mask_phone
from app.schemas.users import HouseholdSchema
from app.services import transitions
from app.services.households.membership import TRANSITIONS

ACTIONS = transitions.actions(TRANSITIONS)
STATUSES = ["pending", "verified", "refused", "withdrawn", "left"]


class HouseholdBindSchema(Schema):
    building_id = fields.Integer(strict=True, load_default=None)
    unit = Text(load_default=None, validate=validate.Length(max=16))
    room = Text(load_default=None, validate=validate.Length(max=16))
    invite_code = Text(load_default=None, validate=validate.Length(max=16),
                       metadata={"description": "网格员上门时给的邀请码：填写后立即认证"})

    @validates_schema
    def _address_or_code(self, data, **_):
        if data.get("invite_code") is None and None in (
                data.get("building_id"), data.get("unit"), data.get("room")):
            raise ValidationError("请选择楼栋并填写单元和房号，或输入邀请码", "building_id")


class MembershipTransitionSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    note = Text(load_default=None, validate=validate.Length(max=200),
                metadata={"description": "refuse 时必填：不通过的原因"})


class QueueArgs(PageArgs):
    status = fields.String(load_default="pending", validate=validate.OneOf(STATUSES))


class PersonSchema(Schema):
    id = fields.Integer()
    nickname = fields.String()
    phone = fields.Function(lambda u: mask_phone(u.phone))


class MembershipSchema(Schema):
    id = fields.Integer()
    status = fields.Function(lambda m: labelled(m.status))
    verified_by = fields.Function(lambda m: labelled(m.verified_by))
    household = fields.Nested(HouseholdSchema)
    requester = fields.Function(lambda m: PersonSchema().dump(getattr(m, "requester", None))
                                if getattr(m, "requester", None) else None)
    members = fields.Function(lambda m: PersonSchema(many=True).dump(getattr(m, "members", [])),
                              metadata={"description": "本户已认证的成员（供审核时核对）"})
    note = fields.String(allow_none=True)
    created_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)


class InviteSchema(Schema):
    code = fields.String(metadata={"description": "一次性邀请码（8 位）"})
    expires_at = fields.DateTime()
    household = fields.Nested(HouseholdSchema)
