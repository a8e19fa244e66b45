"""The database unreachable, busy or out of connections: every route answers 503
`service_unavailable` in the envelope, never a 500. An Idempotency-Key whose request died is
free again for the retry, and the work of a request that died is never half kept.

(A PostgreSQL server stopped in the middle of a load: tests/routes/test_pg_outage.py.)"""
from __future__ import annotations

import socket
import sqlite3
from datetime import timedelta

import psycopg
import pytest
import sqlalchemy as sa
import time_machine

from app import create_app
from app.database import Session
from app.errors import database_unavailable
from app.extensions import db
from app.models import IdempotencyRecord, LedgerEntry, PointsAccount, Redemption
from app.models.base import utcnow
from app.security import BEARER
from app.services import idempotency
from app.services.points import rewards as rewards_service
from config import load_config
from tests.fixtures.points import balance, count, give, make_reward, stock
from tests.helpers import bearer, in_app
from tests.routes.test_errors import assert_envelope

BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends: nothing listens


@pytest.fixture
def other_app(app):
    """`other_app(url=None, **engine_options)`: another app, on another database URL or with
    other pool settings; its connections are closed afterwards."""
    made = []

    def make(url: str | None = None, **engine_options):
        config = load_config("testing")
        if url:
            config.SQLALCHEMY_DATABASE_URI = url
        config.SQLALCHEMY_ENGINE_OPTIONS = {**config.SQLALCHEMY_ENGINE_OPTIONS, **engine_options}
        made.append(create_app(config))
        return made[-1]

    yield make
    for other in made:
        with other.app_context():
            db.engine.dispose()


def route_calls(app):
    """Every /api/v1 operation: (method, path with 1 for each argument, needs a login)."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        view = app.view_functions[rule.endpoint]
        login = getattr(view, "_apidoc", {}).get("manual_doc", {}).get("security") == BEARER
        path = rule.build({name: 1 for name in rule.arguments}, append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, path, login


@pytest.mark.parametrize("url", [
    f"postgresql+psycopg://linli@127.0.0.1:{closed_port()}/linli?connect_timeout=2",
    "sqlite:////nonexistent-directory/linli.sqlite3",
], ids=["postgresql-refused", "sqlite-unopenable"])
def test_every_route_answers_503_when_the_database_is_unreachable(other_app, sandbox, url):
    offline = other_app(url)
    client = offline.test_client()
    calls = list(route_calls(offline))
    assert len(calls) > 20
    for method, path, login in calls:
        response = client.open(path, method=method, headers={**bearer("some-token"),
                                                             "Idempotency-Key": "k"},
                               json={} if method in BODY_METHODS else None)
        assert response.status_code != 500, (method, path, response.get_data(as_text=True))
        assert response.is_json, (method, path)
        body = assert_envelope(response, response.status_code, response.get_json()["code"])
        if login:  # the token is looked up first
            assert (response.status_code, body["code"]) == (503, "service_unavailable"), (
                method, path, body)
            assert response.headers["Retry-After"] == "5"
    # A login WeChat accepts, then the user cannot be written.
    login = client.post("/api/v1/auth/login", json={"code": "sandbox:someone"})
    assert_envelope(login, 503, "service_unavailable")


def test_sqlite_locked_past_its_busy_timeout_is_503_and_changes_nothing(app, client, world,
                                                                       people, ctx):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write lock; PostgreSQL waits on row locks instead")
    headers = people["demo-resident"]
    path = db.engine.url.database
    db.session.commit()
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process writing for a long time
        refused = client.put("/api/v1/points/preferences", headers=headers,
                             json={"ranking_public": False})
        read = client.get("/api/v1/me", headers=headers)  # readers do not wait (WAL)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert_envelope(refused, 503, "service_unavailable")
    assert read.status_code == 200
    assert db.session.get(PointsAccount, world["users"]["demo-resident"]) is None
    again = client.put("/api/v1/points/preferences", headers=headers, json={"ranking_public": False})
    assert again.status_code == 200, again.get_json()


def test_no_connection_free_in_the_pool_is_503(app, other_app, client, world, people):
    headers = people["demo-resident"]
    with app.app_context():
        url = db.engine.url.render_as_string(hide_password=False)
    crowded = other_app(url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    with crowded.app_context():
        held = db.engine.connect()  # the only connection: every request waits for it
        try:
            response = crowded.test_client().get("/api/v1/me", headers=headers)
        finally:
            held.close()
    assert_envelope(response, 503, "service_unavailable")
    assert crowded.test_client().get("/api/v1/me", headers=headers).status_code == 200


def test_a_rollback_that_fails_answers_503(app, client, world, people, monkeypatch):
    """The database goes away between a service's error and the envelope's rollback."""
    def broken_rollback(self):
        raise sa.exc.OperationalError("ROLLBACK", {}, Exception("server closed the connection"))

    bad_request = client.post("/api/v1/points/adjustments", headers=people["demo-staff"],
                              json={"user_id": 1, "amount": 0, "reason": "x"})
    assert_envelope(bad_request, 422, "validation_error")
    monkeypatch.setattr(Session, "rollback", broken_rollback)
    response = client.post("/api/v1/points/adjustments", headers=people["demo-staff"],
                           json={"user_id": 1, "amount": 0, "reason": "x"})
    monkeypatch.undo()
    assert_envelope(response, 503, "service_unavailable")


# --- Idempotency-Key after a request died ------------------------------------------------

@pytest.fixture
def shop(app, world, people):
    uid = world["users"]["demo-resident"]
    give(app, uid, 100 - balance(app, uid))
    return uid, make_reward(app, world["community"], cost=10, stock=5), people["demo-resident"]


def redeem(client, headers, reward_id, key):
    return client.post(f"/api/v1/rewards/{reward_id}/redeem", json={"quantity": 1},
                       headers={**headers, "Idempotency-Key": key})


def test_a_request_that_dies_after_its_service_committed_keeps_nothing(app, client, shop,
                                                                       monkeypatch):
    uid, reward_id, headers = shop
    real = rewards_service.redeem

    def redeem_then_die(*args, **kwargs):
        real(*args, **kwargs)  # commits, as every service does
        raise RuntimeError("the worker died before the answer was stored")

    monkeypatch.setattr(rewards_service, "redeem", redeem_then_die)
    died = redeem(client, headers, reward_id, "dies-1")
    assert_envelope(died, 500, "internal_error")
    assert count(app, Redemption) == 0 and balance(app, uid) == 100 and stock(app, reward_id) == 5
    assert count(app, IdempotencyRecord) == 0  # released: the retry runs
    monkeypatch.undo()
    retried = redeem(client, headers, reward_id, "dies-1")
    assert retried.status_code == 201, retried.get_json()
    assert "Idempotent-Replayed" not in retried.headers
    replay = redeem(client, headers, reward_id, "dies-1")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == retried.get_json()
    assert count(app, Redemption) == 1 and balance(app, uid) == 90 and stock(app, reward_id) == 4
    assert count(app, LedgerEntry, LedgerEntry.account_id == uid) == 2  # the gift, the spend


def test_a_reservation_left_by_a_killed_process_is_taken_over_once_it_expires(
        app, client, shop, monkeypatch):
    uid, reward_id, headers = shop
    # A killed process neither stores an answer nor releases its key.
    monkeypatch.setattr(idempotency, "release", lambda reservation: None)
    monkeypatch.setattr(rewards_service, "redeem", lambda *a, **k: 1 / 0)
    assert redeem(client, headers, reward_id, "killed-1").status_code == 500
    monkeypatch.undo()
    assert count(app, IdempotencyRecord, IdempotencyRecord.status_code.is_(None)) == 1
    assert count(app, Redemption) == 0  # its work went with it
    assert app.config["IDEMPOTENCY_RESERVATION_SECONDS"] == 120
    soon = redeem(client, headers, reward_id, "killed-1")
    assert_envelope(soon, 409, "idempotency_in_progress")
    with time_machine.travel(utcnow() + timedelta(seconds=100)):
        assert_envelope(redeem(client, headers, reward_id, "killed-1"), 409,
                        "idempotency_in_progress")
    other_body = client.post(f"/api/v1/rewards/{reward_id}/redeem", json={"quantity": 2},
                             headers={**headers, "Idempotency-Key": "killed-1"})
    with time_machine.travel(utcnow() + timedelta(seconds=121)):
        assert_envelope(client.post(f"/api/v1/rewards/{reward_id}/redeem", json={"quantity": 2},
                                    headers={**headers, "Idempotency-Key": "killed-1"}),
                        422, "idempotency_key_reused")  # expired or not, it was another body
        taken = redeem(client, headers, reward_id, "killed-1")
        again = redeem(client, headers, reward_id, "killed-1")
    assert_envelope(other_body, 422, "idempotency_key_reused")
    assert taken.status_code == 201, taken.get_json()
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json() == taken.get_json()
    assert count(app, Redemption) == 1 and balance(app, uid) == 90
    assert count(app, IdempotencyRecord) == 1


def test_a_request_whose_reservation_was_taken_over_keeps_nothing(app, client, shop, monkeypatch):
    """Thought dead and taken over, the first request is still running: it may not commit
    its work next to the one the retry does."""
    uid, reward_id, headers = shop
    real = rewards_service.redeem

    def redeem_then_lose_the_key(*args, **kwargs):
        result = real(*args, **kwargs)
        # The retry's takeover, as it looks from here: the reservation is gone.
        db.session.execute(sa.delete(IdempotencyRecord))
        return result

    monkeypatch.setattr(rewards_service, "redeem", redeem_then_lose_the_key)
    late = redeem(client, headers, reward_id, "late-1")
    monkeypatch.undo()
    assert_envelope(late, 409, "idempotency_in_progress")
    assert count(app, Redemption) == 0 and balance(app, uid) == 100 and stock(app, reward_id) == 5
    assert in_app(app, lambda: db.session.scalar(sa.select(IdempotencyRecord.key))) is None


def _wrapped(error_class, orig, invalidated=False):
    return error_class("SELECT 1", {}, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize("error, unavailable", [
    (_wrapped(sa.exc.OperationalError, psycopg.OperationalError("server closed the connection")), True),
    (_wrapped(sa.exc.InterfaceError, psycopg.InterfaceError("the connection is closed")), True),
    (_wrapped(sa.exc.DBAPIError, Exception("gone"), invalidated=True), True),
    (psycopg.OperationalError("connection refused"), True),
    (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), True),
    (sa.exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached"), True),
    (_wrapped(sa.exc.OperationalError, sqlite3.OperationalError("database is locked")), True),
    (_wrapped(sa.exc.OperationalError, sqlite3.OperationalError("no such table: wishes")), False),
    (_wrapped(sa.exc.ProgrammingError, psycopg.ProgrammingError("syntax error")), False),
    (_wrapped(sa.exc.IntegrityError, psycopg.IntegrityError("duplicate key")), False),
    (RuntimeError("a bug"), False),
])
def test_which_database_errors_mean_unavailable(error, unavailable):
    """A lost or refused connection, a shutdown, an exhausted pool, a busy SQLite: 503. A bug
    that happens to surface as a database error (no such table, bad SQL): still a 500."""
    assert database_unavailable(error) is unavailable
