"""The console sign-in approval the mini-program sends after scanning the QR code."""
from __future__ import annotations

from marshmallow import Schema, fields, validate


class ApproveSchema(Schema):
    nonce = fields.String(required=True, validate=validate.Length(min=1, max=128),
                          metadata={"description": "二维码内容 linli:console:<nonce> 中的 nonce"})


class ApprovedSchema(Schema):
    approved = fields.Boolean()
    approved_at = fields.DateTime()
