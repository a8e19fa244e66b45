"""How `uploads.store_image` cleans an image: a plain upright JPEG keeps its own picture
bytes (not re-encoded: the decoded pixels are exactly the original's) less every metadata
segment and whatever follows its end; a truncated one is still refused; a rotated JPEG, a
CMYK one and a PNG are re-encoded from their pixels as before."""
from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops

from app.errors import UnsupportedMedia
from app.services import uploads
from app.storage import get_storage


def photo(size=(96, 64), progressive: bool = False, mode: str = "RGB", **save) -> bytes:
    image = Image.linear_gradient("L").resize(size).convert(mode) if mode != "L" else \
        Image.linear_gradient("L").resize(size)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90, progressive=progressive, **save)
    return out.getvalue()


def private_exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x8825] = {1: "N", 2: (38.0, 42.0, 16.0)}  # GPS
    if orientation:
        exif[0x0112] = orientation
    return exif


def stored(ctx, data: bytes) -> tuple[uploads.StoredImage, bytes]:
    image = uploads.store_image(data)
    return image, get_storage().read(image.storage_key)


def pixels(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("progressive", [False, True])
def test_a_plain_jpeg_keeps_its_picture_and_loses_every_metadata_segment(ctx, progressive):
    original = photo(progressive=progressive, exif=private_exif(), icc_profile=b"ICC-PROFILE" * 20,
                     comment=b"taken at home")
    original += b"SEFT trailer: 38.0N 116.4E"  # a phone's data after the end marker
    image, data = stored(ctx, original)
    assert (image.content_type, image.width, image.height) == ("image/jpeg", 96, 64)
    for secret in (b"SecretCam", b"ICC-PROFILE", b"taken at home", b"SEFT", b"Exif"):
        assert secret not in data
    assert data.endswith(b"\xff\xd9") and len(data) == image.size < len(original)
    kept = pixels(data)
    assert not kept.getexif() and "icc_profile" not in kept.info
    # not re-encoded: the very same decoded pixels (a re-encoding would change some)
    assert ImageChops.difference(kept, pixels(original)).getbbox() is None


def test_a_greyscale_jpeg_is_kept_too(ctx):
    original = photo(mode="L")
    image, data = stored(ctx, original)
    assert pixels(data).mode == "L" and data == original  # nothing to strip from Pillow's


def test_a_truncated_jpeg_is_still_refused(ctx):
    original = photo(size=(640, 480))
    with pytest.raises(UnsupportedMedia):
        uploads.store_image(original[: len(original) // 2])


def test_a_rotated_photo_is_re_encoded_upright(ctx):
    original = photo(size=(96, 64), exif=private_exif(orientation=6))  # 90° clockwise
    image, data = stored(ctx, original)
    assert pixels(data).size == (64, 96)  # (the row's width and height are the header's)
    assert b"SecretCam" not in data and not pixels(data).getexif()


def test_a_cmyk_jpeg_and_a_png_are_re_encoded_from_their_pixels(ctx):
    cmyk = photo(mode="CMYK")
    image, data = stored(ctx, cmyk)
    assert pixels(data).mode == "RGB" and image.content_type == "image/jpeg"
    png = io.BytesIO()
    Image.new("RGB", (20, 10), (1, 2, 3)).save(png, format="PNG", exif=private_exif())
    image, data = stored(ctx, png.getvalue())
    assert image.content_type == "image/png" and b"SecretCam" not in data


def test_an_unusual_jpeg_structure_falls_back_to_re_encoding(ctx):
    """A JPEG whose segments do not parse as expected (a stray byte after the first one,
    which Pillow skips) is decoded whole and re-encoded, never kept as it is."""
    original = photo(exif=private_exif())
    after_first = 4 + int.from_bytes(original[4:6], "big")
    broken = original[:after_first] + b"\x00" + original[after_first:]
    assert uploads._jpeg_without_metadata(broken, (96, 64), "RGB") is None
    image, data = stored(ctx, broken)
    assert b"SecretCam" not in data and pixels(data).size == (96, 64)
    assert ImageChops.difference(pixels(data), pixels(original)).getbbox() is not None  # re-encoded
