"""Image uploads: proven real with Pillow, bounded in bytes, pixels and decoded size, EXIF
stripped.

Both bounds on what decoding costs are read from the header, before any pixel is decoded:
UPLOAD_MAX_PIXELS (422 `image_too_large`) and UPLOAD_MAX_DECODE_BYTES, width x height x bands
x bytes per band (413 `image_decode_too_large`: a 16-bit RGBA PNG takes 8 bytes a pixel).
A phone's multi-picture JPEG (MPO: the photo plus depth or preview frames) is its first
frame, stored as a plain JPEG.

The stored file is a re-encoding of the decoded pixels, so no metadata (GPS position,
camera serial) survives. Who may fetch an image: its owner, admin, and whoever may see the
record it is attached to: `VIEW_CHECKERS` names, per `ref_kind`, the function that decides.

Any record takes photos the same way: `own_photos(user, ids)` proves the ids are the user's
own unattached uploads (422 otherwise), `attach(photos, ref_kind, ref_id)` ties them to it.
"""
from __future__ import annotations

import functools
import io
import secrets
import warnings
from typing import Callable

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from PIL import Image, ImageOps
from werkzeug.utils import import_string

from app.errors import Forbidden, NotFound, PayloadTooLarge, UnsupportedMedia, ValidationFailed
from app.extensions import db
from app.models import Role, Upload, User
from app.services.permissions import has_role
from app.storage import get_storage

FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"),
           "WEBP": ("image/webp", "webp")}
# Formats Pillow names that are stored as one of FORMATS.
STORED_AS = {"MPO": "JPEG"}
MB = 1024 * 1024

# Who may see an attached image: ref_kind -> "module:function" deciding (user, upload) ->
# bool. Named, not imported, because the features that attach images import this module.
VIEW_CHECKERS: dict[str, str] = {
    "incident": "app.services.incidents.access:can_view_photo",
    "reward": "app.services.points.rewards:can_view_picture",
    "avatar": "app.services.profile:can_view_avatar",
    "wish": "app.services.wishes.access:can_view_photo",
    "visit": "app.services.visits.access:can_view_photo",
}


@functools.cache
def view_checker(ref_kind: str) -> Callable[[User, Upload], bool] | None:
    name = VIEW_CHECKERS.get(ref_kind)
    return import_string(name) if name else None


def own_photos(user: User, photo_ids: list[int]) -> list[Upload]:
    """The uploads, all owned by `user` and not yet attached elsewhere, else 422."""
    if not photo_ids:
        return []
    if len(set(photo_ids)) != len(photo_ids):
        raise ValidationFailed("照片重复", code="invalid_photos", errors={"photo_ids": ["照片重复"]})
    uploads = list(db.session.scalars(sa.select(Upload).where(Upload.id.in_(photo_ids))))
    if len(uploads) != len(photo_ids) or any(
            u.owner_id != user.id or u.ref_kind is not None for u in uploads):
        raise ValidationFailed("照片无效：只能使用自己刚上传的照片", code="invalid_photos",
                               errors={"photo_ids": ["照片不存在或不属于你"]})
    return sorted(uploads, key=lambda u: photo_ids.index(u.id))  # the user's order, not the DB's


def attach(uploads: list[Upload], ref_kind: str, ref_id: int) -> list[int]:
    """Tie the uploads to a record (flushes nothing); returns their ids in order."""
    for upload in uploads:
        upload.ref_kind, upload.ref_id = ref_kind, ref_id
    return [u.id for u in uploads]


def create_upload(owner: User, data: bytes) -> Upload:
    config = current_app.config
    if len(data) > config["UPLOAD_MAX_BYTES"]:
        raise PayloadTooLarge(f"图片不能超过 {config['UPLOAD_MAX_BYTES'] // (1024 * 1024)} MB",
                              code="file_too_large")
    if not data:
        raise ValidationFailed("请选择要上传的图片", code="empty_file")
    image, fmt = _open_image(data, config["UPLOAD_MAX_PIXELS"], config["UPLOAD_MAX_DECODE_BYTES"])
    content_type, ext = FORMATS[fmt]
    clean = _reencode(image, fmt)
    key = f"{secrets.token_hex(2)}/{secrets.token_hex(16)}.{ext}"
    get_storage().save(key, clean)
    upload = Upload(owner_id=owner.id, storage_key=key, content_type=content_type,
                    size=len(clean), width=image.width, height=image.height)
    db.session.add(upload)
    try:
        db.session.commit()
    except Exception:
        get_storage().delete(key)
        raise
    return upload


def _open_image(data: bytes, max_pixels: int, max_decode_bytes: int) -> tuple[Image.Image, str]:
    not_image = UnsupportedMedia("只支持 JPEG、PNG、WebP 格式的图片", code="not_an_image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            fmt = STORED_AS.get(image.format, image.format)
            if fmt not in FORMATS:
                raise not_image
            # The header gives the size before any pixel is decoded: refuse bombs here.
            if image.width * image.height > max_pixels:
                raise _too_many_pixels(max_pixels)
            per_pixel = len(image.getbands()) * _bytes_per_band(image)
            if image.width * image.height * per_pixel > max_decode_bytes:
                raise _too_big_to_decode(image.width * image.height * per_pixel, per_pixel,
                                         max_decode_bytes)
            image.load()  # an MPO: its first frame
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(max_pixels) from None
    except (OSError, SyntaxError, ValueError):
        raise not_image from None
    return image, fmt


def _bytes_per_band(image: Image.Image) -> int:
    """Bytes a band of one pixel takes, from the header: the decoder's raw mode says 16 bits
    (PNG "RGBA;16B", "I;16B"), 32-bit modes take 4, a JPEG states its sample precision."""
    tile = image.tile[0] if image.tile else None
    args = tile[3] if tile is not None and len(tile) > 3 else None
    rawmode = args if isinstance(args, str) else (
        args[0] if isinstance(args, tuple) and args and isinstance(args[0], str) else "")
    if ";16" in rawmode or image.mode.startswith("I;16"):
        return 2
    if image.mode in ("I", "F"):
        return 4
    return max(1, -(-int(getattr(image, "bits", 8) or 8) // 8))


def _too_big_to_decode(needed: int, per_pixel: int, limit: int) -> PayloadTooLarge:
    details = {"decode_mb": round(needed / MB), "limit_mb": round(limit / MB),
               "max_megapixels": round(limit / per_pixel / 1_000_000, 1)}
    return PayloadTooLarge(
        f"图片太大，无法处理：解码需要约 {details['decode_mb']} MB，上限 {details['limit_mb']} MB"
        f"（这种图片最多约 {details['max_megapixels']} 百万像素）",
        code="image_decode_too_large", errors={"file": details})


def _too_many_pixels(max_pixels: int) -> ValidationFailed:
    return ValidationFailed(f"图片像素过多（上限 {max_pixels // 1_000_000} 百万像素）",
                            code="image_too_large")


def _reencode(image: Image.Image, fmt: str) -> bytes:
    # Apply the EXIF orientation to the pixels, since the EXIF itself is dropped.
    image = ImageOps.exif_transpose(image)
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    out = io.BytesIO()
    options = {"JPEG": {"quality": 85, "optimize": True}, "PNG": {"optimize": True},
               "WEBP": {"quality": 85}}[fmt]
    image.save(out, format=fmt, **options)
    return out.getvalue()


def can_view(user: User, upload: Upload) -> bool:
    if upload.owner_id == user.id or has_role(user, Role.ADMIN):
        return True
    checker = view_checker(upload.ref_kind or "")
    return bool(checker and upload.ref_id is not None and checker(user, upload))


def get_for_viewer(user: User, upload_id: int) -> Upload:
    upload = db.session.get(Upload, upload_id)
    # Someone who may not see an image is told it does not exist, not that it is private.
    if upload is None or not can_view(user, upload):
        raise NotFound("图片不存在", code="upload_not_found")
    return upload


@functools.lru_cache(maxsize=4)
def _signer_for(secret: str) -> TimestampSigner:
    return TimestampSigner(secret, salt="upload-url")


def _signer() -> TimestampSigner:
    # Built once per secret: lists sign an image per item, and building a signer plus a
    # JSON serializer cost six times what signing "<id>" does.
    return _signer_for(current_app.config["SECRET_KEY"])


def signed_token(upload_id: int) -> str:
    """A short-lived token for the image URL: `<image src>` cannot send a bearer token.
    URL-safe as it is ("<id>.<time>.<signature>", base64url parts)."""
    return _signer().sign(str(upload_id)).decode()


def read_signed(upload_id: int, token: str) -> tuple[Upload, bytes]:
    try:
        signed_id = int(_signer().unsign(token, max_age=current_app.config["UPLOAD_URL_TTL"]))
    except SignatureExpired:
        raise Forbidden("图片链接已过期，请刷新页面", code="upload_url_expired") from None
    except (BadSignature, ValueError):
        raise NotFound("图片不存在", code="upload_not_found") from None
    upload = db.session.get(Upload, upload_id)
    if signed_id != upload_id or upload is None:
        raise NotFound("图片不存在", code="upload_not_found")
    return upload, get_storage().read(upload.storage_key)
