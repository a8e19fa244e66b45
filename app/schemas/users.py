"""Users as they see themselves (`/me`) and the login exchange. No schema here ever dumps
`session_key`; the phone number is only ever dumped masked."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.schemas.common import labelled, mask_phone
from app.schemas.org import BuildingSchema, CompoundRefSchema


class LoginSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=128),
                         metadata={"description": "wx.login() 返回的 code"})


class GrantSchema(Schema):
    role = fields.Function(lambda g: g.role.value)
    role_name = fields.Function(lambda g: g.role.label)
    scope_kind = fields.Function(lambda g: g.scope_kind.value if g.scope_kind else None)
    scope_id = fields.Integer(allow_none=True)


class HouseholdSchema(Schema):
    id = fields.Integer()
    unit = fields.String()
    room = fields.String()
    building = fields.Nested(BuildingSchema)
    compound = fields.Function(lambda h: CompoundRefSchema().dump(h.building.compound))


class UserSchema(Schema):
    id = fields.Integer()
    nickname = fields.String()
    phone = fields.Function(lambda u: mask_phone(u.phone))
    roles = fields.Function(lambda u: sorted(r.value for r in u.roles))
    grants = fields.List(fields.Nested(GrantSchema))
    household = fields.Nested(HouseholdSchema, allow_none=True)
    compound = fields.Function(
        lambda u: CompoundRefSchema().dump(u.household.building.compound)
        if u.household else None)
    party_member_kind = fields.Function(
        lambda u: labelled(u.party_profile.kind) if u.party_profile else None)


class MeSchema(UserSchema):
    unread_count = fields.Integer(metadata={"description": "未读消息数"})


class LoginResultSchema(Schema):
    token = fields.String()
    user = fields.Nested(UserSchema)


class HouseholdBindSchema(Schema):
    building_id = fields.Integer(required=True, strict=True)
    unit = fields.String(required=True, validate=validate.Length(min=1, max=16))
    room = fields.String(required=True, validate=validate.Length(min=1, max=16))
