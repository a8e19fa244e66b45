"""Every kind of bad input answers the envelope `{code, message, errors}` and changes nothing."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Household


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"code", "message", "errors"}
    assert body["code"] == code
    # The message is for the user: Chinese, never a stack trace.
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"])
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def test_unknown_path_is_404(client):
    assert_envelope(client.get("/api/v1/nothing-here"), 404, "not_found")


def test_wrong_method_is_405_with_allow(client):
    response = client.delete("/api/v1/me")
    assert_envelope(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_malformed_json_is_400(client):
    response = client.post("/api/v1/auth/login", data='{"code": ',
                           content_type="application/json")
    body = assert_envelope(response, 400, "malformed_json")
    assert body["errors"] == {"json": ["JSON 格式错误"]}


@pytest.mark.parametrize("payload, field, message", [
    ({"code": 123}, "code", "应为文本"),
    ({}, "code", "此项为必填项"),
    ({"code": ""}, "code", "长度应在 1 到 128 之间"),
    ({"code": "sandbox:x", "admin": True}, "admin", "不支持的字段"),
    ([1, 2], "_schema", "应为 JSON 对象"),
])
def test_invalid_fields_are_422_with_chinese_field_errors(client, payload, field, message):
    body = assert_envelope(client.post("/api/v1/auth/login", json=payload), 422,
                           "validation_error")
    assert body["errors"]["json"][field] == [message]


def test_wrong_query_type_is_422(client, auth):
    body = assert_envelope(client.get("/api/v1/compounds?limit=abc", headers=auth("q")),
                           422, "validation_error")
    assert body["errors"]["query"]["limit"] == ["应为整数"]


def test_limit_out_of_range_is_422(client, auth):
    body = assert_envelope(client.get("/api/v1/compounds?limit=1000", headers=auth("q")),
                           422, "validation_error")
    assert body["errors"]["query"]["limit"] == ["应大于或等于 1 且小于或等于 100"]


def test_numbers_no_column_holds_are_422(client, auth):
    from app.services.pagination import encode_cursor

    headers = auth("q")
    for path in (f"/api/v1/incidents/{10**30}",
                 f"/api/v1/incidents?scope=mine&cursor={encode_cursor(10**30)}",
                 f"/api/v1/incidents?scope=mine&compound_id={10**30}"):
        assert_envelope(client.get(path, headers=headers), 422, "out_of_range")


def test_non_json_body_is_415(client):
    response = client.post("/api/v1/auth/login", data="code=sandbox:x",
                           content_type="text/plain")
    assert_envelope(response, 415, "unsupported_media_type")


def test_oversized_body_is_413(app, client):
    too_big = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post("/api/v1/auth/login", data=too_big, content_type="application/json")
    assert_envelope(response, 413, "payload_too_large")


def test_bad_household_binding_changes_nothing(client, world, auth, ctx):
    headers = auth("demo-resident")
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Household))
    unknown = client.put("/api/v1/me/household", headers=headers,
                         json={"building_id": 99999, "unit": "1", "room": "101"})
    assert_envelope(unknown, 404, "building_not_found")
    too_long = client.put("/api/v1/me/household", headers=headers,
                          json={"building_id": 1, "unit": "1" * 17, "room": "101"})
    assert_envelope(too_long, 422, "validation_error")
    as_string = client.put("/api/v1/me/household", headers=headers,
                           json={"building_id": "1", "unit": "1", "room": "101"})
    assert_envelope(as_string, 422, "validation_error")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Household)) == before
    assert client.get("/api/v1/me", headers=headers).get_json()["household"]["room"] == "101"


def test_uncaught_exception_is_500_with_request_id_and_logged(client, auth, monkeypatch,
                                                              caplog):
    from app.services import org

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals 13812345678")

    headers = auth("someone")
    monkeypatch.setattr(org, "list_compounds", broken)
    response = client.get("/api/v1/compounds", headers={**headers, "X-Request-ID": "req-42"})
    body = assert_envelope(response, 500, "internal_error")
    assert body["errors"] == {"request_id": "req-42"}
    assert "secret internals" not in response.get_data(as_text=True)
    assert any("req-42" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
