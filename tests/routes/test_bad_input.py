"""Hostile input on every route: lone surrogates, JSON nested thousands deep, dates from
the year 1 or 9999, ids no column holds. Each is a 4xx envelope and changes nothing; and an
idempotent POST is recognised by what it says, not by how its JSON is spaced."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from marshmallow import fields

from app.extensions import db
from app.models import IdempotencyRecord, Incident, LedgerEntry, Notification, Reward, User
from app.schemas import common
from tests.helpers import jpeg
from tests.routes.test_errors import assert_envelope

SURROGATE = "\\ud800"  # a JSON escape: json.dumps would write it the same way


def post_raw(client, path: str, body: str | bytes, headers=None):
    return client.post(path, data=body, content_type="application/json", headers=headers or {})


def count(model, *where) -> int:
    value = db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))
    db.session.commit()
    return value


@pytest.mark.parametrize("body, errors", [
    ('{"code": "sandbox:%s"}' % SURROGATE, {"code": ["含有无效的字符（单独的 Unicode 代理项）"]}),
    ('{"code": "x\\udc00y"}', {"code": ["含有无效的字符（单独的 Unicode 代理项）"]}),
    ('{"%s": 1, "code": "sandbox:a"}' % SURROGATE, {"\ufffd": ["含有无效的字符（单独的 Unicode 代理项）"]}),
    ('"%s"' % SURROGATE, {"_schema": ["含有无效的字符（单独的 Unicode 代理项）"]}),
])
def test_a_lone_surrogate_is_a_422_field_error(client, ctx, body, errors):
    response = post_raw(client, "/api/v1/auth/login", body)
    found = assert_envelope(response, 422, "validation_error")
    assert found["errors"] == {"json": errors}
    assert count(User) == 0  # nobody logged in, nothing asked of WeChat's login


def test_a_surrogate_pair_is_one_character_and_fine(client, ctx):
    response = post_raw(client, "/api/v1/auth/login", '{"code": "sandbox:\\ud83d\\ude00"}')
    assert response.status_code == 200, response.get_json()
    assert db.session.scalar(sa.select(User.openid)) == "\U0001f600"


def test_a_lone_surrogate_in_a_report_changes_nothing(client, world, people, categories,
                                                      photo, ctx):
    photo_id = photo(people["demo-resident"])
    body = json.dumps({"category": "environment", "description": "楼道灯坏了\ud800",
                       "photo_ids": [photo_id],
                       "building_id": world["buildings"][("虹桥小区", "1号楼")]})
    assert SURROGATE in body
    for headers in ({}, {"Idempotency-Key": "surrogate-1"}):
        response = post_raw(client, "/api/v1/incidents", body, {**people["demo-resident"], **headers})
        found = assert_envelope(response, 422, "validation_error")
        assert found["errors"] == {"json": {"description": ["含有无效的字符（单独的 Unicode 代理项）"]}}
    nested = post_raw(client, "/api/v1/incidents",
                      '{"category": "environment", "description": "x", "photo_ids": [1, "%s"]}'
                      % SURROGATE, people["demo-resident"])
    assert assert_envelope(nested, 422, "validation_error")["errors"] == {
        "json": {"photo_ids": {"1": ["含有无效的字符（单独的 Unicode 代理项）"]}}}
    assert count(Incident) == 0 and count(Notification) == 0 and count(IdempotencyRecord) == 0


def test_invalid_utf8_in_query_strings_and_form_fields_is_never_a_500(client, world, people):
    headers = people["demo-resident"]
    # %ED%A0%80 is a surrogate encoded as UTF-8, which UTF-8 forbids: read as U+FFFD.
    assert_envelope(client.get("/api/v1/incidents?scope=mine&status=%ED%A0%80", headers=headers),
                    422, "validation_error")
    assert_envelope(client.get("/api/v1/points/rankings?month=%ED%A0%80", headers=headers),
                    422, "validation_error")
    bad = b"\xed\xa0\x80"

    def multipart(filename: bytes, note: bytes) -> bytes:
        return (b"--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n" + note + b"\r\n"
                b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + filename
                + b"\"\r\nContent-Type: image/jpeg\r\n\r\n" + jpeg() + b"\r\n--b--\r\n")

    def upload(body: bytes, key: str):
        return client.post("/api/v1/uploads", data=body, content_type="multipart/form-data; boundary=b",
                           headers={**headers, "Idempotency-Key": key})

    answers = [upload(multipart(b"p.jpg", bad), "form-1") for _ in range(2)]
    assert [a.status_code for a in answers] == [201, 201], answers[0].get_data(as_text=True)
    assert answers[1].headers["Idempotent-Replayed"] == "true"
    assert answers[1].get_json() == answers[0].get_json()
    # Werkzeug cannot read a part whose headers are not UTF-8: no file, so a field error.
    unreadable = upload(multipart(bad + b".jpg", b"x"), "form-2")
    assert assert_envelope(unreadable, 422, "validation_error")["errors"] == {
        "files": {"file": ["此项为必填项"]}}


DEEP = 10_000


@pytest.mark.parametrize("body", [
    "[" * DEEP + "]" * DEEP,
    '{"a": ' * DEEP + "1" + "}" * DEEP,
    '{"code": ' + "[" * 1025 + "]" * 1025 + "}",
    "[" * DEEP,  # never closed either
])
def test_json_nested_thousands_deep_is_malformed_json(client, world, people, ctx, body):
    for path, headers in [("/api/v1/auth/login", {}),
                          ("/api/v1/incidents", {**people["demo-resident"], "Idempotency-Key": "deep"}),
                          ("/api/v1/points/adjustments", people["demo-staff"])]:
        found = assert_envelope(post_raw(client, path, body, headers), 400, "malformed_json")
        assert found["errors"] == {"json": ["JSON 格式错误"]}
    assert count(IdempotencyRecord) == 0 and count(Incident) == 0


def test_nesting_the_parser_takes_is_left_to_the_schema(client, world, people, ctx):
    """orjson reads up to 1024 levels; below that a deep value is just the wrong type."""
    body = '{"category": "environment", "description": ' + "[" * 1000 + "]" * 1000 + "}"
    for headers in ({}, {"Idempotency-Key": "deep-but-parsed"}):
        response = post_raw(client, "/api/v1/incidents", body, {**people["demo-resident"], **headers})
        found = assert_envelope(response, 422, "validation_error")
        assert found["errors"]["json"]["description"] == ["应为文本"]
    assert count(IdempotencyRecord) == 0 and count(Incident) == 0


# --- dates -------------------------------------------------------------------------------

RANGE = "日期应在 2000 年到 2100 年之间"


@pytest.mark.parametrize("query, field", [
    ("from=0001-01-01", "from"), ("to=9999-12-31", "to"), ("from=1999-12-31", "from"),
    ("to=2101-01-01", "to"), ("from=0001-01-01&to=0001-01-02", "from"),
])
def test_stats_dates_outside_2000_to_2100_are_422(client, world, people, query, field):
    hq = world["compounds"]["虹桥小区"]
    response = client.get(f"/api/v1/incidents/stats?compound_id={hq}&{query}",
                          headers=people["demo-secretary"])
    assert assert_envelope(response, 422, "validation_error")["errors"]["query"][field] == [RANGE]


def test_stats_dates_at_the_edges_of_the_range_are_fine(client, world, people):
    hq = world["compounds"]["虹桥小区"]
    for start, end in [("2000-01-01", "2000-12-31"), ("2100-01-01", "2100-12-31")]:
        response = client.get(f"/api/v1/incidents/stats?compound_id={hq}&from={start}&to={end}",
                              headers=people["demo-secretary"])
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["total"] == 0


@pytest.mark.parametrize("field, value", [
    ("starts_at", "0001-01-01T00:00:00+08:00"),   # before 0001-01-01 in UTC: no datetime holds it
    ("ends_at", "9999-12-31T23:59:59-10:00"),     # after 9999-12-31 in UTC
    ("starts_at", "1999-12-31T23:59:59+08:00"),
    ("ends_at", "2101-01-01T00:00:00+08:00"),
])
def test_reward_windows_outside_2000_to_2100_are_422(client, world, people, ctx, field, value):
    body = {"name": "节能台灯", "cost": 120, "stock": 10, "pickup_place": "服务站",
            "community_id": world["community"], field: value}
    created = client.post("/api/v1/rewards", headers=people["demo-staff"], json=body)
    assert assert_envelope(created, 422, "validation_error")["errors"]["json"][field] == [RANGE]
    assert count(Reward) == 0
    del body[field]
    reward = client.post("/api/v1/rewards", headers=people["demo-staff"], json=body).get_json()
    updated = client.put(f"/api/v1/rewards/{reward['id']}", headers=people["demo-staff"],
                         json={field: value})
    assert assert_envelope(updated, 422, "validation_error")["errors"]["json"][field] == [RANGE]
    assert getattr(db.session.get(Reward, reward["id"]), field) is None


@pytest.mark.parametrize("month", ["1999-12", "1900-01", "2101-01"])
def test_ranking_months_outside_2000_to_2100_are_422(client, world, people, month):
    response = client.get(f"/api/v1/points/rankings?month={month}", headers=people["demo-resident"])
    assert assert_envelope(response, 422, "validation_error")["errors"]["query"]["month"]


def test_ranking_months_at_the_edges_are_fine(client, world, people):
    for month in ("2000-01", "2100-12"):
        response = client.get(f"/api/v1/points/rankings?month={month}",
                              headers=people["demo-resident"])
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["month"] == month


TEMPORAL = (fields.Date, fields.DateTime, fields.Time)


def _fields_of(schema):
    for name, field in schema.fields.items():
        yield name, field
        inner = getattr(field, "inner", None) or getattr(field, "value_field", None)
        if inner is not None:
            yield f"{name}[]", inner
        if isinstance(field, fields.Nested) and not callable(field.nested):
            yield from ((f"{name}.{n}", f) for n, f in _fields_of(field.schema))


def test_every_date_an_operation_reads_is_bounded(app):
    """Any route taking a date or datetime (present or future) uses the bounded fields of
    app.schemas.common, so the year 1 or 9999 never reaches timeutil or the database."""
    sane = (common.Date, common.DateTime, common.AwareDateTime)
    unbounded, seen = [], 0
    for endpoint, view in app.view_functions.items():
        for parameter in getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", []):
            schema = parameter["schema"]
            schema = schema() if isinstance(schema, type) else schema
            for name, field in _fields_of(schema):
                if isinstance(field, TEMPORAL) and not field.dump_only:
                    seen += 1
                    if not isinstance(field, sane):
                        unbounded.append(f"{endpoint}: {name}")
    assert seen >= 4  # stats from/to, reward starts_at/ends_at (create and update)
    assert unbounded == []


# --- ids no column holds -----------------------------------------------------------------

HUGE = 99999999999999999999  # more than 64 bits


def test_huge_ids_in_paths_and_bodies_are_404_or_422(client, world, people, categories, ctx):
    resident, staff = people["demo-resident"], people["demo-staff"]
    cases = [
        ("get", f"/api/v1/incidents/{HUGE}", None, resident),
        ("post", f"/api/v1/incidents/{HUGE}/transitions", '{"action": "comment", "note": "x"}',
         resident),
        ("post", f"/api/v1/incidents/{HUGE}/transitions", '{"action": "comment", "note": "x"}',
         {**resident, "Idempotency-Key": "huge-1"}),
        ("post", f"/api/v1/rewards/{HUGE}/redeem", "{}", {**resident, "Idempotency-Key": "huge-2"}),
        ("post", "/api/v1/incidents",
         '{"category": "environment", "description": "x", "building_id": %d}' % HUGE, resident),
        ("post", "/api/v1/incidents",
         '{"category": "environment", "description": "x", "building_id": %d}' % 2**63, resident),
        ("put", "/api/v1/me/household", '{"building_id": %d, "unit": "1", "room": "1"}' % 2**63,
         resident),
        ("post", "/api/v1/points/adjustments",
         '{"user_id": %d, "amount": 1, "reason": "r"}' % 2**63, staff),
        ("post", "/api/v1/rewards",
         '{"community_id": %d, "name": "n", "cost": 1, "stock": 1, "pickup_place": "p"}' % 2**63,
         staff),
    ]
    for method, path, body, headers in cases:
        response = getattr(client, method)(path, data=body, headers=headers,
                                           content_type="application/json")
        assert response.status_code in (404, 422), (path, body, response.get_data(as_text=True))
        assert_envelope(response, response.status_code, response.get_json()["code"])
    assert count(Incident) == 0 and count(Reward) == 0 and count(LedgerEntry) == 0
    assert count(IdempotencyRecord) == 0


def test_an_overflow_sqlalchemy_wraps_is_422_out_of_range(app):
    """A value a bind processor cannot convert (a datetime at the year-1 edge shifted to
    UTC) is wrapped in a StatementError by SQLAlchemy; the original error decides."""
    from app.models.base import UTCDateTime

    with app.test_request_context("/api/v1/rewards", method="POST"):
        try:
            db.session.execute(sa.select(sa.bindparam("at", type_=UTCDateTime)), {
                "at": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=8)))})
        except sa.exc.StatementError as error:
            response = app.handle_user_exception(error)
        else:
            pytest.fail("SQLAlchemy took a datetime before the year 1")
    assert response.status_code == 422
    assert response.get_json() == {"code": "out_of_range", "message": "数值超出范围", "errors": {}}


# --- idempotency fingerprints ------------------------------------------------------------

def test_the_same_json_spaced_or_ordered_otherwise_replays_the_first_answer(
        app, client, world, people, points_history, ctx):
    uid = world["users"]["demo-resident"]
    headers = {**people["demo-staff"], "Idempotency-Key": "adjust-1"}
    variants = [
        '{"user_id": %d, "amount": 5, "reason": "协助义诊"}' % uid,
        '{"user_id":%d,"amount":5,"reason":"协助义诊"}' % uid,
        '\n{\n  "reason": "\\u534f\\u52a9\\u4e49\\u8bca",\n  "amount": 5,\n  "user_id": %d\n}\n' % uid,
    ]
    first = post_raw(client, "/api/v1/points/adjustments", variants[0], headers)
    assert first.status_code == 201, first.get_json()
    for variant in variants[1:]:
        again = post_raw(client, "/api/v1/points/adjustments", variant, headers)
        assert again.status_code == 201, again.get_json()
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.get_json() == first.get_json()
    assert count(LedgerEntry, LedgerEntry.note == "协助义诊") == 1
    other = post_raw(client, "/api/v1/points/adjustments",
                     '{"user_id": %d, "amount": 6, "reason": "协助义诊"}' % uid, headers)
    assert_envelope(other, 422, "idempotency_key_reused")
    assert count(LedgerEntry, LedgerEntry.note == "协助义诊") == 1
