"""Rewards (爱心积分超市) and redemptions: input validation and output shapes."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.models import RedemptionStatus
from app.schemas.common import AwareDateTime, PageArgs, labelled, mask_phone
from app.schemas.uploads import UploadSchema

AWARE = {"awareness": "时间应带时区，如 2026-11-22T08:00:00+08:00"}


class RewardSchema(Schema):
    id = fields.Integer()
    community_id = fields.Integer()
    name = fields.String()
    description = fields.String(allow_none=True)
    picture = fields.Nested(UploadSchema, allow_none=True)
    cost = fields.Integer(metadata={"description": "每件所需积分"})
    stock = fields.Integer()
    per_user_limit = fields.Integer(allow_none=True, metadata={"description": "每人限兑件数"})
    starts_at = fields.DateTime(allow_none=True)
    ends_at = fields.DateTime(allow_none=True)
    pickup_place = fields.String()
    active = fields.Boolean()


class RewardUpdateSchema(Schema):
    """Every field optional: a PUT changes what it names."""

    name = fields.String(validate=validate.Length(min=1, max=64))
    description = fields.String(allow_none=True, validate=validate.Length(max=500))
    picture_id = fields.Integer(allow_none=True, strict=True)
    cost = fields.Integer(strict=True, validate=validate.Range(min=1, max=1_000_000))
    stock = fields.Integer(strict=True, validate=validate.Range(min=0, max=1_000_000))
    per_user_limit = fields.Integer(allow_none=True, strict=True,
                                    validate=validate.Range(min=1, max=1000))
    starts_at = AwareDateTime(allow_none=True, error_messages=AWARE)
    ends_at = AwareDateTime(allow_none=True, error_messages=AWARE)
    pickup_place = fields.String(validate=validate.Length(min=1, max=100))
    active = fields.Boolean()

    @validates_schema
    def window(self, data, **_):
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            raise ValidationError("应晚于开始时间", "ends_at")


class RewardCreateSchema(RewardUpdateSchema):
    community_id = fields.Integer(required=True, strict=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    cost = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1_000_000))
    stock = fields.Integer(required=True, strict=True,
                           validate=validate.Range(min=0, max=1_000_000))
    pickup_place = fields.String(required=True, validate=validate.Length(min=1, max=100))


class RewardArgs(PageArgs):
    community_id = fields.Integer(load_default=None)
    all = fields.Boolean(load_default=False, metadata={
        "description": "工作人员：包括已下架和不在兑换期内的奖品"})


class RedeemSchema(Schema):
    quantity = fields.Integer(load_default=1, strict=True, validate=validate.Range(min=1, max=99))


class RewardRefSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    pickup_place = fields.String()


class RedemptionSchema(Schema):
    id = fields.Integer()
    reward = fields.Nested(RewardRefSchema)
    quantity = fields.Integer()
    points = fields.Integer()
    status = fields.Function(lambda r: labelled(r.status))
    pickup_code = fields.String(metadata={"description": "6 位取货码"})
    qr_payload = fields.String(metadata={"description": "取货二维码内容"})
    expires_at = fields.DateTime()
    created_at = fields.DateTime()
    fulfilled_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)


class RedeemerSchema(Schema):
    id = fields.Integer()
    nickname = fields.String()
    phone = fields.Function(lambda u: mask_phone(u.phone),
                            metadata={"description": "脱敏手机号（核对尾号）"})


class RedemptionLookupSchema(RedemptionSchema):
    """What staff see before handing a reward over."""

    owner = fields.Nested(RedeemerSchema)
    collectable = fields.Boolean(metadata={"description": "现在可以领取（待领取且未过期）"})


class RedemptionArgs(PageArgs):
    status = fields.String(load_default=None,
                           validate=validate.OneOf([s.value for s in RedemptionStatus]))
