from __future__ import annotations

from datetime import datetime, timezone

from flask import current_app, g, url_for
from marshmallow import Schema, fields


def signed(upload_id: int) -> dict:
    """`{"url", "url_expires_at"}`: the image's absolute URL (scheme and host of the request:
    `<image src>` in the mini-program needs the whole address) with a fresh signature (a
    signature names one image id, no query), and when that signature stops working. One
    image is signed once per request, so its URL is the same wherever it appears (and for
    a minute after: `uploads.signed_token`)."""
    from app.services.uploads import signed_token

    cache = g.setdefault("signed_images", {})
    if upload_id not in cache:
        token, signed_at = signed_token(upload_id)
        before, after = _url_parts()
        cache[upload_id] = {
            "url": f"{before}{upload_id}{after}?t={token}",
            "url_expires_at": datetime.fromtimestamp(
                signed_at + current_app.config["UPLOAD_URL_TTL"], timezone.utc)}
    return cache[upload_id]


_SENTINEL = 918273645


def _url_parts() -> tuple[str, str]:
    """The image URL around its id, built by `url_for` once per request (a list signs an
    image per item, and `url_for` costs twice what the signature does)."""
    if "image_url_parts" not in g:
        url = url_for("uploads.content", upload_id=_SENTINEL, _external=True)
        before, after = url.split(str(_SENTINEL))
        g.image_url_parts = before, after
    return g.image_url_parts


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
