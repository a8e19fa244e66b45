from __future__ import annotations

from datetime import datetime, timezone

from flask import current_app, g, url_for
from marshmallow import Schema, fields


def signed(upload_id: int) -> dict:
    """`{"url", "url_expires_at"}`: the image's absolute URL (scheme and host of the request:
    `<image src>` in the mini-program needs the whole address) with a fresh signature (a
    signature names one image id, no query), and when that signature stops working. One
    image is signed once per request, so its URL is the same wherever it appears (and for
    a minute after: `uploads.token_signer`)."""
    images = g.get("signed_images")
    if images is None:
        images = g.signed_images = _Signed()
    found = images.get(upload_id)
    return found if found is not None else images.sign(upload_id)


class _Signed(dict):
    """The images signed in this request by id, and what their URLs share, worked out once
    (a list signs an image per item): the URL around the id (`url_for` costs twice what a
    signature does), the signing window and when it expires."""

    def __init__(self):
        super().__init__()
        from app.services.uploads import token_signer

        url = url_for("uploads.content", upload_id=_SENTINEL, _external=True)
        self.before, self.after = url.split(str(_SENTINEL))
        self.token, signed_at = token_signer()
        self.expires_at = datetime.fromtimestamp(
            signed_at + current_app.config["UPLOAD_URL_TTL"], timezone.utc)

    def sign(self, upload_id: int) -> dict:
        self[upload_id] = image = {
            "url": f"{self.before}{upload_id}{self.after}?t={self.token(upload_id)}",
            "url_expires_at": self.expires_at}
        return image


_SENTINEL = 918273645


def signed_url(upload_id: int) -> str:
    return signed(upload_id)["url"]


def photo(upload_id: int) -> dict:
    """An image as lists and details show it: `{"id", "url", "url_expires_at"}`."""
    image = signed(upload_id)
    return {"id": upload_id, "url": image["url"],
            "url_expires_at": image["url_expires_at"].isoformat()}


class UploadSchema(Schema):
    id = fields.Integer()
    url = fields.Function(lambda u: signed_url(u.id),
                          metadata={"description": "限时有效的图片地址（完整 URL）"})
    url_expires_at = fields.Function(lambda u: signed(u.id)["url_expires_at"].isoformat(),
                                     metadata={"description": "图片地址失效时间，之后请重新获取",
                                               "format": "date-time"})
    content_type = fields.String()
    width = fields.Integer()
    height = fields.Integer()
    size = fields.Integer()


class UploadFormSchema(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class SignedArgs(Schema):
    t = fields.String(required=True, metadata={"description": "图片地址中的签名"})
