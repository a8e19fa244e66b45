"""A PostgreSQL outage in the middle of a load of idempotent redemptions and adjustments.

The test starts its own throwaway server (scripts/pg-tmp), so it runs in both CI runs,
whatever DATABASE_URL says; it skips only where no PostgreSQL binaries are installed. The
app serves it over a real threaded HTTP server while threads redeem and adjust points, each
operation under its own Idempotency-Key, retrying on 503 and 409 as a client does. Midway
the server is stopped with `pg_ctl stop -m immediate` (a crash, no clean shutdown) and
started again. Every answer while it is down is a 503 envelope, none is a 500 or HTML, and
once it is back every operation has happened exactly once: one redemption, one ledger entry
per key, and `flask points verify` is clean.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from app import create_app
from app.extensions import db
from app.models import IdempotencyRecord, LedgerEntry, PointsRule, Redemption
from app.services.points import ledger as points
from config import load_config
from tests.fixtures.points import balance, count, give, make_reward
from tests.fixtures.world import build_world
from tests.helpers import bearer, in_app, login, serving

ROOT = Path(__file__).resolve().parents[2]
RESIDENTS = ["demo-resident", "demo-resident-2", "demo-resident-3", "demo-party-member"]
THREADS, PER_THREAD = 6, 8


def pg_bin() -> str | None:
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if shutil.which("initdb"):
        candidates.append(os.path.dirname(shutil.which("initdb")))
    return next((d for d in candidates if d and os.access(f"{d}/initdb", os.X_OK)), None)


class Server:
    """A throwaway PostgreSQL server from scripts/pg-tmp, which this test crashes and restarts."""

    def __init__(self):
        started = subprocess.run([str(ROOT / "scripts" / "pg-tmp"), "start"], capture_output=True,
                                 text=True, check=True)
        values = dict(line.removeprefix("export ").split("=", 1)
                      for line in started.stdout.splitlines() if line.startswith("export "))
        self.dir, self.url = values["PG_TMP_DIR"], values["PG_TMP_URL"]
        owner = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        self.pg_ctl = [*owner, f"{pg_bin()}/pg_ctl", "-D", f"{self.dir}/data"]

    def crash(self) -> None:
        subprocess.run([*self.pg_ctl, "-m", "immediate", "-w", "stop"], check=True,
                       capture_output=True)

    def start_again(self) -> None:
        # restart: the options of the last start (port, socket directory) from postmaster.opts
        subprocess.run([*self.pg_ctl, "-l", f"{self.dir}/server.log", "-w", "-t", "60", "restart"],
                       check=True, capture_output=True)

    def remove(self) -> None:
        subprocess.run([str(ROOT / "scripts" / "pg-tmp"), "stop", self.dir], check=False)


@pytest.fixture
def pg_app(app):
    """The app on a server of its own (migrated, with the world's people), its reservations
    of dead requests taken over after 2 s instead of 120."""
    if pg_bin() is None:
        pytest.skip("no PostgreSQL binaries (initdb) on this machine")
    server = Server()
    try:
        config = load_config("testing")
        # pg-tmp trades durability for speed (synchronous_commit=off): a crash then loses
        # commits already answered, which no application can make up for. These sessions
        # commit durably, as production does.
        config.SQLALCHEMY_DATABASE_URI = ("postgresql+psycopg://" + server.url.split("://", 1)[1]
                                          + "?options=-c%20synchronous_commit%3Don")
        config.IDEMPOTENCY_RESERVATION_SECONDS = 2
        other = create_app(config)
        from flask_migrate import upgrade

        with other.app_context():
            upgrade()
            assert db.session.scalar(sa.text("SHOW synchronous_commit")) == "on"
            db.session.remove()
        other.extensions["test_world"] = in_app(other, build_world)
        other.extensions["test_server"] = server
        yield other
        with other.app_context():
            db.engine.dispose()
    finally:
        server.remove()


@pytest.fixture
def served(pg_app):
    with serving(pg_app) as url:
        yield url


class Log:
    """Every answer with when it was asked and answered (monotonic clock)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.answers: list[tuple[float, float, int, str, str]] = []  # asked, answered, status, code, key

    def add(self, asked, answered, status, code, key):
        with self.lock:
            self.answers.append((asked, answered, status, code, key))


def read(base: str, headers: dict, log: Log, done: threading.Event) -> None:
    """A reader alongside the writers: GET requests read in autocommit mode (app.database)."""
    with requests.Session() as http:
        while not done.is_set():
            asked = time.monotonic()
            response = http.get(base + "/api/v1/points", headers=headers, timeout=30)
            is_json = response.headers.get("Content-Type", "").startswith("application/json")
            code = response.json().get("code", "") if is_json and response.status_code >= 400 else ""
            log.add(asked, time.monotonic(), response.status_code,
                    code if is_json else "NOT JSON: " + response.text[:200], "read")
            time.sleep(0.02)


def operate(base: str, op: dict, log: Log, deadline: float) -> dict | None:
    """Post one operation until it succeeds (201), as a client would: again after a 503 or
    a 409 `idempotency_in_progress`, with the same Idempotency-Key. Its 201 body."""
    with requests.Session() as http:
        while time.monotonic() < deadline:
            asked = time.monotonic()
            try:
                response = http.post(base + op["path"], json=op["body"], timeout=30,
                                     headers={**op["headers"], "Idempotency-Key": op["key"]})
            except requests.RequestException as error:  # the app itself must never drop us
                log.add(asked, time.monotonic(), 0, type(error).__name__, op["key"])
                return None
            answered = time.monotonic()
            is_json = response.headers.get("Content-Type", "").startswith("application/json")
            body = response.json() if is_json else {}
            code = body.get("code", "") if response.status_code >= 400 else ""
            if not is_json or (response.status_code >= 400 and set(body) != {"code", "message", "errors"}):
                code = "NOT AN ENVELOPE: " + response.text[:200]
            log.add(asked, answered, response.status_code, code, op["key"])
            if response.status_code == 201:
                return body
            if (response.status_code, code) not in {(503, "service_unavailable"),
                                                     (409, "idempotency_in_progress")}:
                return None
            time.sleep(0.05)
    return None


def test_postgresql_crashing_mid_load_answers_503_and_every_retry_happens_once(pg_app, served):
    world = pg_app.extensions["test_world"]
    server: Server = pg_app.extensions["test_server"]
    client = pg_app.test_client()
    residents = {openid: world["users"][openid] for openid in RESIDENTS}
    for uid in residents.values():
        give(pg_app, uid, 1000)
    reward_id = make_reward(pg_app, world["community"], cost=1, stock=10_000)
    tokens = {openid: bearer(login(client, openid)) for openid in [*RESIDENTS, "demo-staff"]}
    ops = []
    for n in range(THREADS * PER_THREAD):
        openid = RESIDENTS[n % len(RESIDENTS)]
        if n % 2:
            ops.append({"kind": "redeem", "uid": residents[openid], "key": f"redeem-{n}",
                        "path": f"/api/v1/rewards/{reward_id}/redeem", "body": {"quantity": 1},
                        "headers": tokens[openid]})
        else:
            ops.append({"kind": "adjust", "uid": residents[openid], "key": f"adjust-{n}",
                        "path": "/api/v1/points/adjustments", "headers": tokens["demo-staff"],
                        "body": {"user_id": residents[openid], "amount": 2, "reason": f"停电演练 {n}"}})
    log, results = Log(), [None] * len(ops)
    deadline = time.monotonic() + 120

    def worker(index: int) -> None:
        for n in range(index, len(ops), THREADS):
            results[n] = operate(served, ops[n], log, deadline)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    reading = threading.Event()
    reader = threading.Thread(target=read, args=(served, tokens["demo-resident"], log, reading))
    for thread in [*threads, reader]:
        thread.start()
    while sum(r is not None for r in results) < len(ops) // 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.crash()
    down = time.monotonic()
    time.sleep(2)  # clients keep retrying against a database that is not there
    up = time.monotonic()
    server.start_again()
    for thread in threads:
        thread.join(150)
    reading.set()
    reader.join(30)

    answers = log.answers
    assert all(status != 0 for _, _, status, _, _ in answers), "the app dropped a connection"
    statuses = Counter((status, code) for _, _, status, code, _ in answers)
    assert set(statuses) <= {(200, ""), (201, ""), (503, "service_unavailable"),
                             (409, "idempotency_in_progress")}, statuses
    assert any(key == "read" and status == 503 for _, _, status, _, key in answers)
    during = Counter((status, code) for asked, answered, status, code, _ in answers
                     if asked >= down and answered <= up)
    assert during and set(during) == {(503, "service_unavailable")}, during
    assert all(r is not None for r in results), "an operation never succeeded"

    # Exactly once, whatever was retried: per key one answer, one redemption, one entry.
    redeems = [op for op in ops if op["kind"] == "redeem"]
    adjusts = [op for op in ops if op["kind"] == "adjust"]
    assert count(pg_app, Redemption) == len(redeems)
    assert count(pg_app, LedgerEntry, LedgerEntry.rule == PointsRule.REDEMPTION) == len(redeems)
    assert count(pg_app, LedgerEntry, LedgerEntry.rule == PointsRule.ADJUSTMENT) == \
        len(adjusts) + len(residents)  # and the 1,000 points each started with
    assert len({r["pickup_code"] for r, op in zip(results, ops, strict=True)
                if op["kind"] == "redeem"}) == len(redeems)
    assert count(pg_app, IdempotencyRecord, IdempotencyRecord.status_code == 201) == len(ops)
    assert count(pg_app, IdempotencyRecord) == len(ops)
    for openid, uid in residents.items():
        mine = [op for op in ops if op["uid"] == uid]
        expected = 1000 + sum(2 for op in mine if op["kind"] == "adjust") - sum(
            1 for op in mine if op["kind"] == "redeem")
        assert balance(pg_app, uid) == expected, openid
    assert in_app(pg_app, points.verify) == []
    verified = pg_app.test_cli_runner().invoke(args=["points", "verify"])
    assert verified.exit_code == 0, verified.output
    # A retry now replays the one answer.
    for op, first in list(zip(ops, results, strict=True))[:4]:
        again = requests.post(served + op["path"], json=op["body"], timeout=30,
                              headers={**op["headers"], "Idempotency-Key": op["key"]})
        assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first
    assert count(pg_app, Redemption) == len(redeems)
    assert in_app(pg_app, lambda: db.session.scalar(sa.select(sa.func.count()).select_from(
        LedgerEntry))) == len(ops) + len(residents)
