from __future__ import annotations

from flask import url_for
from marshmallow import Schema, fields


def signed_url(upload_id: int) -> str:
    """The image's URL with a fresh signature (a signature names one image id, no query)."""
    from app.services.uploads import signed_token

    return url_for("uploads.content", upload_id=upload_id, t=signed_token(upload_id))


class UploadSchema(Schema):
    id = fields.Integer()
    url = fields.Function(lambda u: signed_url(u.id), metadata={"description": "限时有效的图片地址"})
    content_type = fields.String()
    width = fields.Integer()
    height = fields.Integer()
    size = fields.Integer()


class UploadFormSchema(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class SignedArgs(Schema):
    t = fields.String(required=True, metadata={"description": "图片地址中的签名"})
