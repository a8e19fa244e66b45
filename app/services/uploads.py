"""Image uploads: proven real with Pillow, bounded in bytes, pixels and decoded size, EXIF
stripped.

Both bounds on what decoding costs are read from the header, before any pixel is decoded:
UPLOAD_MAX_PIXELS (422 `image_too_large`) and UPLOAD_MAX_DECODE_BYTES, width x height x bands
x bytes per band (413 `image_decode_too_large`: a 16-bit RGBA PNG takes 8 bytes a pixel).
A phone's multi-picture JPEG (MPO: the photo plus depth or preview frames) is its first
frame, stored as a plain JPEG.

No metadata (GPS position, camera serial) survives in the stored file. A plain JPEG (RGB or
greyscale, upright: no EXIF rotation to apply), what phones and WeChat send, is decoded at
1/8 scale (libjpeg still reads and checks every byte of the picture, so a truncated or
corrupt file is refused as before) and stored as its own bytes less every metadata segment
(EXIF, XMP, ICC, MPF, comments, a JFIF thumbnail) and anything after its end (another MPO
frame, a phone's trailer): no re-encoding, a fifth of the CPU and no quality loss
(`_jpeg_without_metadata`). Anything else (PNG, WebP, CMYK, a rotated photo) is fully
decoded and re-encoded from its pixels, the rotation applied. `store_image(data)` does all
that and saves the file without touching the database; `create_upload` adds the row.

Who may fetch an image: its owner, admin, and whoever may see the
record it is attached to: `VIEW_CHECKERS` names, per `ref_kind`, the function that decides.

Any record takes photos the same way: `own_photos(user, ids)` proves the ids are the user's
own unattached uploads (422 otherwise), `attach(photos, ref_kind, ref_id)` ties them to it.
"""
from __future__ import annotations

import functools
import io
import secrets
import time
import warnings
from dataclasses import dataclass
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


@dataclass(frozen=True)
class StoredImage:
    """A checked, cleaned image saved to storage, not yet a row (`upload_for`)."""

    storage_key: str
    content_type: str
    size: int
    width: int
    height: int


def store_image(data: bytes) -> StoredImage:
    """Check `data` (bytes, format, pixels, decode budget), clean it and save it to storage;
    no database. The caller adds the row (`upload_for`), and deletes the file if that fails."""
    config = current_app.config
    if len(data) > config["UPLOAD_MAX_BYTES"]:
        raise PayloadTooLarge(f"图片不能超过 {config['UPLOAD_MAX_BYTES'] // (1024 * 1024)} MB",
                              code="file_too_large")
    if not data:
        raise ValidationFailed("请选择要上传的图片", code="empty_file")
    image, fmt, (width, height), keep = _open_image(
        data, config["UPLOAD_MAX_PIXELS"], config["UPLOAD_MAX_DECODE_BYTES"])
    content_type, ext = FORMATS[fmt]
    clean = _jpeg_without_metadata(data, (width, height), image.mode) if keep else None
    if clean is None:
        if keep:  # an unusual structure: decode it whole after all, and re-encode
            image, fmt, (width, height), _ = _open_image(
                data, config["UPLOAD_MAX_PIXELS"], config["UPLOAD_MAX_DECODE_BYTES"], whole=True)
        clean = _reencode(image, fmt)
    key = f"{secrets.token_hex(2)}/{secrets.token_hex(16)}.{ext}"
    get_storage().save(key, clean)
    return StoredImage(key, content_type, len(clean), width, height)


def upload_for(owner_id: int, stored: StoredImage) -> Upload:
    return Upload(owner_id=owner_id, storage_key=stored.storage_key,
                  content_type=stored.content_type, size=stored.size, width=stored.width,
                  height=stored.height)


def create_upload(owner: User, data: bytes) -> Upload:
    stored = store_image(data)
    upload = upload_for(owner.id, stored)
    db.session.add(upload)
    try:
        db.session.commit()
    except Exception:
        get_storage().delete(stored.storage_key)
        raise
    return upload


def _open_image(data: bytes, max_pixels: int, max_decode_bytes: int, whole: bool = False
                ) -> tuple[Image.Image, str, tuple[int, int], bool]:
    """The decoded image, its stored format, its size, and whether its own bytes may be
    kept (a plain upright JPEG, decoded at 1/8 scale to prove it; `whole`: never)."""
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
            size = image.size
            keep = not whole and fmt == "JPEG" and image.mode in ("RGB", "L") \
                and image.getexif().get(ORIENTATION, 1) == 1
            if keep:  # libjpeg's DCT scaling: every byte read and checked, 1/64 of the pixels
                image.draft(image.mode, (max(1, size[0] // 8), max(1, size[1] // 8)))
            image.load()  # an MPO: its first frame
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(max_pixels) from None
    except (OSError, SyntaxError, ValueError):
        raise not_image from None
    return image, fmt, size, keep


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


ORIENTATION = 0x0112
SOI, EOI, SOS, APP0, APP14, COM = 0xD8, 0xD9, 0xDA, 0xE0, 0xEE, 0xFE


def _jpeg_without_metadata(data: bytes, size: tuple[int, int], mode: str) -> bytes | None:
    """The JPEG's own segments up to its first end (EOI) less every APPn segment (EXIF, XMP,
    ICC, MPF, makers' notes) but a JFIF header (without its thumbnail) and Adobe's APP14
    (how to read the colours), and less every comment; None when the structure is not the
    expected one (the caller re-encodes instead)."""
    out, pos, end = [data[:2]], 2, len(data)
    if data[:2] != b"\xff\xd8":
        return None
    while pos + 1 < end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # a fill byte
            pos += 1
            continue
        if marker == EOI:
            out.append(b"\xff\xd9")
            break
        if marker in (SOI, 0x01) or 0xD0 <= marker <= 0xD7:  # no length: not expected here
            return None
        if pos + 4 > end:
            return None
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        segment = data[pos:pos + 2 + length]
        if length < 2 or len(segment) != 2 + length:
            return None
        pos += 2 + length
        if marker == APP0 and segment[4:9] == b"JFIF\x00" and length >= 16:
            out.append(b"\xff\xe0\x00\x10" + segment[4:16] + b"\x00\x00")  # no thumbnail
        elif marker == APP14 and segment[4:9] == b"Adobe":
            out.append(segment)
        elif not (APP0 <= marker <= 0xEF or marker == COM):
            out.append(segment)
        if marker == SOS:  # the entropy-coded data, up to the next marker but RSTn or FF00
            scan = pos
            while True:
                found = data.find(b"\xff", scan)
                if found < 0 or found + 1 >= end:
                    return None
                following = data[found + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    scan = found + 2
                elif following == 0xFF:
                    scan = found + 1
                else:
                    break
            out.append(data[pos:found])
            pos = found
    else:
        return None  # no end marker
    clean = b"".join(out)
    try:  # the same picture, as a plain JPEG (the header only: cheap)
        check = Image.open(io.BytesIO(clean))
        if (check.format, check.size, check.mode) != ("JPEG", size, mode):
            return None
    except (OSError, SyntaxError, ValueError):
        return None
    return clean


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


URL_STEP = 60  # seconds: an image's signed URL stays the same for this long


def url_step(at: float) -> int:
    """The start of the URL_STEP window `at` falls in: the timestamp a URL signed then
    carries."""
    return int(at) // URL_STEP * URL_STEP


class _StepSigner(TimestampSigner):
    """Signs with the start of the current URL_STEP window, not the current second, so
    an image signed twice within a minute gets the same URL: a list page read by many
    residents signs each image once a minute per process (`_token`), and the
    mini-program's image cache sees one address. Only for signing: a token's age is
    checked against the real time (`_signer`)."""

    def get_timestamp(self) -> int:
        return url_step(time.time())


@functools.lru_cache(maxsize=8)
def _signer_for(secret: str, step: bool = False) -> TimestampSigner:
    return (_StepSigner if step else TimestampSigner)(secret, salt="upload-url")


def _signer() -> TimestampSigner:
    # Built once per secret: lists sign an image per item, and building a signer plus a
    # JSON serializer cost six times what signing "<id>" does.
    return _signer_for(current_app.config["SECRET_KEY"])


@functools.lru_cache(maxsize=8192)
def _token(secret: str, upload_id: int, step: int) -> str:
    # `step` keys the cache only: at a window's edge the token may carry the next window
    # (it then lives a little longer than `token_signer` says, never shorter).
    return _signer_for(secret, step=True).sign(str(upload_id)).decode()


def token_signer() -> tuple[Callable[[int], str], int]:
    """A function giving an image id's short-lived token for its URL (`<image src>` cannot
    send a bearer token), and the time the tokens count from: the current URL_STEP window,
    read once for the images of one response. URL-safe as it is ("<id>.<time>.<signature>",
    base64url parts)."""
    step, secret = url_step(time.time()), current_app.config["SECRET_KEY"]
    return lambda upload_id: _token(secret, upload_id, step), step


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
