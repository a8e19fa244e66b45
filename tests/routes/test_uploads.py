"""Uploads: only real images within limits, EXIF stripped, visible only to those allowed."""
from __future__ import annotations

import io
import struct
import zlib
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
import time_machine
from PIL import Image

from app.extensions import db
from app.models import Upload
from app.models.base import utcnow
from app.services import uploads


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x8825] = {1: "N", 2: (38.0, 42.0, 16.0)}  # GPS IFD: where the photo was taken
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG that claims a huge size and carries almost no data (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def upload(client, headers, data: bytes, name: str = "photo.jpg", **extra):
    response = client.post("/api/v1/uploads", headers={**headers, **extra},
                           data={"file": (io.BytesIO(data), name)},
                           content_type="multipart/form-data")
    # The test client spools a body over 500 KB to a temporary file and leaves it open.
    response.request.environ["wsgi.input"].close()
    return response


def count_uploads() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Upload))


def test_jpeg_is_stored_without_exif_and_served_by_signed_url(client, auth, ctx):
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif()  # the fixture really has EXIF
    response = upload(client, auth("reporter"), original)
    assert response.status_code == 201
    body = response.get_json()
    assert (body["content_type"], body["width"], body["height"]) == ("image/jpeg", 64, 48)
    served = client.get(body["url"])  # no bearer: <image src> cannot send one
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    stored = Image.open(io.BytesIO(served.data))
    assert stored.size == (64, 48)
    assert not stored.getexif() and b"SecretCam" not in served.data


@pytest.mark.parametrize("fmt, mime", [("PNG", "image/png"), ("WEBP", "image/webp")])
def test_png_and_webp_are_accepted(client, auth, fmt, mime):
    out = io.BytesIO()
    Image.new("RGBA", (10, 10), (0, 0, 255, 128)).save(out, format=fmt)
    response = upload(client, auth("reporter"), out.getvalue(), name=f"x.{fmt.lower()}")
    assert response.status_code == 201
    assert response.get_json()["content_type"] == mime


def test_text_file_named_jpg_is_refused(client, auth, ctx):
    response = upload(client, auth("reporter"), b"just some text, not pixels" * 10)
    assert response.status_code == 415
    assert response.get_json()["code"] == "not_an_image"
    assert count_uploads() == 0


def test_gif_is_refused(client, auth, ctx):
    out = io.BytesIO()
    Image.new("P", (4, 4)).save(out, format="GIF")
    response = upload(client, auth("reporter"), out.getvalue(), name="a.gif")
    assert response.status_code == 415 and response.get_json()["code"] == "not_an_image"


def test_decompression_bomb_is_refused_before_decoding(client, auth, ctx):
    response = upload(client, auth("reporter"), png_header_only(20000, 20000), name="bomb.png")
    assert response.status_code == 422
    assert response.get_json()["code"] == "image_too_large"
    assert count_uploads() == 0


def test_eleven_megabytes_is_413(client, auth, ctx):
    response = upload(client, auth("reporter"), b"\xff\xd8" + b"\0" * (11 * 1024 * 1024))
    assert response.status_code == 413
    assert response.get_json()["code"] == "payload_too_large"
    assert count_uploads() == 0


def test_just_over_the_limit_inside_the_request_slack_is_413(app, client, auth, ctx):
    data = b"\xff\xd8" + b"\0" * app.config["UPLOAD_MAX_BYTES"]
    response = upload(client, auth("reporter"), data)
    assert response.status_code == 413 and response.get_json()["code"] == "file_too_large"


def test_missing_file_field_is_422(client, auth):
    response = client.post("/api/v1/uploads", headers=auth("reporter"), data={},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    assert response.get_json()["errors"]["files"]["file"] == ["此项为必填项"]


def test_only_owner_and_admin_see_an_unattached_image(client, world, auth):
    created = upload(client, auth("demo-resident"), jpeg_with_gps()).get_json()
    path = f"/api/v1/uploads/{created['id']}"
    assert client.get(path, headers=auth("demo-resident")).status_code == 200
    assert client.get(path, headers=auth("demo-admin")).status_code == 200
    for other in ("demo-resident-2", "demo-staff", "demo-grid-worker"):
        response = client.get(path, headers=auth(other))
        assert response.status_code == 404, other
        assert response.get_json()["code"] == "upload_not_found"


def test_tampered_and_expired_signatures(client, auth):
    created = upload(client, auth("reporter"), jpeg_with_gps()).get_json()
    url = created["url"]
    tampered = client.get(url[:-3] + ("aaa" if not url.endswith("aaa") else "bbb"))
    assert tampered.status_code == 404
    other_id = url.replace(f"/uploads/{created['id']}/", f"/uploads/{created['id'] + 1}/")
    assert client.get(other_id).status_code == 404  # a signature is for one image only
    with time_machine.travel(utcnow() + timedelta(hours=2)):
        expired = client.get(url)
    assert expired.status_code == 403 and expired.get_json()["code"] == "upload_url_expired"


def test_idempotency_key_returns_the_first_upload(client, auth, ctx):
    headers = auth("reporter")
    data = jpeg_with_gps()
    first = upload(client, headers, data, **{"Idempotency-Key": "k1"})
    again = upload(client, headers, data, **{"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 201
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count_uploads() == 1
    other_body = upload(client, headers, data + b"x", **{"Idempotency-Key": "k1"})
    assert other_body.status_code == 422
    assert other_body.get_json()["code"] == "idempotency_key_reused"
    assert count_uploads() == 1


def test_failed_request_releases_its_idempotency_key(client, auth, ctx):
    headers = auth("reporter")
    bad = upload(client, headers, b"not an image", **{"Idempotency-Key": "k2"})
    assert bad.status_code == 415
    good = upload(client, headers, jpeg_with_gps(), **{"Idempotency-Key": "k2-other"})
    assert good.status_code == 201
    retried = upload(client, headers, b"not an image", **{"Idempotency-Key": "k2"})
    assert retried.status_code == 415  # ran again, not a replay of a stored failure
    assert "Idempotent-Replayed" not in retried.headers


def test_uploads_are_rate_limited_per_user(app, client, auth):
    app.config["RATELIMIT_UPLOAD"] = "2 per minute"
    try:
        headers = auth("eager")
        codes = [upload(client, headers, jpeg_with_gps()).status_code for _ in range(3)]
        other = upload(client, auth("someone-else"), jpeg_with_gps()).status_code
    finally:
        app.config["RATELIMIT_UPLOAD"] = "30 per minute"
    assert codes == [201, 201, 429]
    assert other == 201


def png_header(width: int, height: int, bit_depth: int, color_type: int) -> bytes:
    """A PNG whose header claims a size and depth, with almost no data: decoding it would
    fail (truncated), so an answer other than 415 shows it was judged by its header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def test_a_16_bit_rgba_png_too_big_to_decode_is_413_before_decoding(app, client, auth, ctx):
    assert app.config["UPLOAD_MAX_DECODE_BYTES"] == 200 * 1024 * 1024
    assert 6000 * 6000 < app.config["UPLOAD_MAX_PIXELS"]  # within the pixel limit
    # 6000 x 6000 pixels x 4 bands x 2 bytes = 288 MB once decoded.
    response = upload(client, auth("reporter"), png_header(6000, 6000, 16, 6), name="deep.png")
    assert response.status_code == 413, response.get_json()
    body = response.get_json()
    assert body["code"] == "image_decode_too_large"
    assert body["message"] == ("图片太大，无法处理：解码需要约 275 MB，上限 200 MB"
                               "（这种图片最多约 26.2 百万像素）")
    assert body["errors"] == {"file": {"decode_mb": 275, "limit_mb": 200,
                                       "max_megapixels": 26.2}}
    assert count_uploads() == 0


def test_the_same_size_at_8_bits_fits_the_decode_budget(app, client, auth):
    # 6000 x 6000 x 4 x 1 = 144 MB: judged fine by its header, then found truncated.
    response = upload(client, auth("reporter"), png_header(6000, 6000, 8, 6), name="ok.png")
    assert response.status_code == 415 and response.get_json()["code"] == "not_an_image"


def test_the_decode_budget_is_configurable(app, client, auth):
    image = io.BytesIO()
    Image.new("RGB", (100, 100), (1, 2, 3)).save(image, format="PNG")
    app.config["UPLOAD_MAX_DECODE_BYTES"] = 100 * 100 * 3 - 1
    try:
        refused = upload(client, auth("reporter"), image.getvalue(), name="small.png")
    finally:
        app.config["UPLOAD_MAX_DECODE_BYTES"] = 200 * 1024 * 1024
    assert refused.status_code == 413 and refused.get_json()["code"] == "image_decode_too_large"
    assert upload(client, auth("reporter"), image.getvalue(), name="small.png").status_code == 201


def mpo(first=(200, 30, 30), second=(30, 30, 200)) -> bytes:
    """A phone's multi-picture JPEG (MPO): two frames, Pillow reports format "MPO"."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), first).save(out, format="MPO", save_all=True,
                                           append_images=[Image.new("RGB", (64, 48), second)])
    data = out.getvalue()
    opened = Image.open(io.BytesIO(data))
    assert (opened.format, opened.n_frames) == ("MPO", 2)
    return data


def test_an_mpo_from_a_phone_is_stored_as_its_first_frame_in_jpeg(client, auth, ctx):
    response = upload(client, auth("reporter"), mpo(), name="IMG_0001.JPG")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["content_type"], body["width"], body["height"]) == ("image/jpeg", 64, 48)
    served = client.get(body["url"])
    stored = Image.open(io.BytesIO(served.data))
    assert stored.format == "JPEG" and getattr(stored, "n_frames", 1) == 1
    red, green, blue = stored.convert("RGB").getpixel((32, 24))
    assert red > 150 and blue < 80  # the first frame (red), not the second (blue)
    assert db.session.scalar(sa.select(Upload.storage_key)).endswith(".jpg")


def test_image_urls_are_absolute_and_say_when_they_expire(app, client, auth, world, people,
                                                         report):
    moment = utcnow().replace(microsecond=0)
    with time_machine.travel(moment, tick=False):
        body = upload(client, auth("reporter"), jpeg_with_gps(),
                      Host="linli.example.cn").get_json()
    assert body["url"].startswith(f"http://linli.example.cn/api/v1/uploads/{body['id']}/content?t=")
    expires = datetime.fromisoformat(body["url_expires_at"])
    # Signed at the start of the minute (uploads.URL_STEP), so the same for a minute.
    signed_at = datetime.fromtimestamp(uploads.url_step(moment.timestamp()), timezone.utc)
    assert moment - timedelta(seconds=uploads.URL_STEP) < signed_at <= moment
    assert expires == signed_at + timedelta(seconds=app.config["UPLOAD_URL_TTL"])
    with time_machine.travel(signed_at + timedelta(seconds=uploads.URL_STEP - 1), tick=False):
        again = client.get(f"/api/v1/uploads/{body['id']}", headers=auth("reporter"),
                           environ_overrides={"HTTP_HOST": "linli.example.cn"})
    assert again.get_json()["url"] == body["url"]  # the same address within the minute
    with time_machine.travel(signed_at + timedelta(seconds=uploads.URL_STEP), tick=False):
        later = client.get(f"/api/v1/uploads/{body['id']}", headers=auth("reporter"),
                           environ_overrides={"HTTP_HOST": "linli.example.cn"})
    assert later.get_json()["url"] != body["url"]
    path = body["url"].removeprefix("http://linli.example.cn")
    with time_machine.travel(expires, tick=False):
        assert client.get(path).status_code == 200  # valid up to the second it names
    with time_machine.travel(expires + timedelta(seconds=1), tick=False):
        assert client.get(path).get_json()["code"] == "upload_url_expired"
    # Incident photos too, in the photos and in the timeline.
    incident = report()
    photo = incident["photos"][0]
    assert photo["url"].startswith("http://localhost/api/v1/uploads/")
    assert datetime.fromisoformat(photo["url_expires_at"]) > utcnow()
    assert incident["timeline"][0]["photos"] == [photo]
