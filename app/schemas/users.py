"""Users as they see themselves (`/me`) and the login exchange. No schema here ever dumps
`session_key`; the phone number is only ever dumped masked."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.schemas.common import Text, labelled, mask_phone
from app.schemas.org import BuildingSchema, CompoundRefSchema
from app.schemas.uploads import signed


def _avatar(user, key: str):
    """The avatar's signed URL or its expiry; None without one (`avatar_upload_id` is put on
    the user by app.services.profile)."""
    upload_id = getattr(user, "avatar_upload_id", None)
    if upload_id is None:
        return None
    value = signed(upload_id)[key]
    return value.isoformat() if key == "url_expires_at" else value


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
    phone = fields.Function(lambda u: mask_phone(u.phone),
                            metadata={"description": "脱敏手机号，如 138****5678"})
    avatar_url = fields.Function(lambda u: _avatar(u, "url"),
                                 metadata={"description": "头像地址（完整 URL，限时有效）"})
    avatar_url_expires_at = fields.Function(lambda u: _avatar(u, "url_expires_at"),
                                            metadata={"format": "date-time"})
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
    expires_at = fields.DateTime(metadata={"description": "token 失效时间，之后请重新登录"})
    user = fields.Nested(UserSchema)


class ProfileUpdateSchema(Schema):
    """`PUT /me`: each field optional; a field not given stays as it is."""

    nickname = Text(validate=validate.Length(min=1, max=32), metadata={"description": "昵称，1–32 个字"})
    avatar_upload_id = fields.Integer(allow_none=True, strict=True, metadata={
        "description": "自己上传的图片（POST /uploads）；null 去掉头像"})


class PhoneSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=128), metadata={
        "description": "手机号快速验证组件（getPhoneNumber）返回的 code"})


class HouseholdBindSchema(Schema):
    building_id = fields.Integer(required=True, strict=True)
    unit = fields.String(required=True, validate=validate.Length(min=1, max=16))
    room = fields.String(required=True, validate=validate.Length(min=1, max=16))
