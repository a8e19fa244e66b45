"""What Linli's log handler writes (app/logs.py): the request id on every line, werkzeug's
access lines included; no secret, signed image token, phone number or free-text reason in
any line, the WeChat sandbox's included; APScheduler quiet at INFO; the dispatcher telling
its progress while it runs."""
from __future__ import annotations

import io
import logging
import threading

import pytest
import requests
import sqlalchemy as sa

from app import logs
from app.extensions import db
from app.models import DeliveryStatus, Notification
from app.services.notifications import dispatch
from app.services.notifications.outbox import notify
from tests.helpers import in_app, serving

DIGEST = {"open": 1, "overdue": 0, "summary": "x", "at": "2026-11-22T00:00:00+00:00"}


@pytest.fixture
def log_lines(app):
    """The lines Linli's root handler writes during the test, at INFO (the tests run at
    WARNING, and Alembic's logging setup replaced the root handlers)."""
    out = io.StringIO()
    root, quiet = logging.getLogger(), logging.getLogger("apscheduler")
    previous = logs.handler.setStream(out), root.level, quiet.level
    installed = logs.handler not in root.handlers
    if installed:
        root.addHandler(logs.handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: out.getvalue().splitlines()
    finally:
        if installed:
            root.removeHandler(logs.handler)
        logs.handler.setStream(previous[0])
        root.setLevel(previous[1])
        quiet.setLevel(previous[2])


@pytest.fixture
def served(app):
    """Linli itself behind werkzeug's server (the dev server `flask run` uses), in a thread."""
    with serving(app) as url:
        yield url


def test_redact_removes_secrets_and_masks_phones():
    line = ('"GET /sns/jscode2session?appid=wx1&secret=sandbox-secret&js_code=sandbox:abc'
            '&grant_type=authorization_code&access_token=sandbox-token-1f2e HTTP/1.1" 200 -')
    clean = logs.redact(line)
    for secret in ("sandbox-secret", "sandbox:abc", "sandbox-token-1f2e"):
        assert secret not in clean
    assert "appid=wx1&secret=[redacted]&js_code=[redacted]" in clean
    assert "grant_type=authorization_code" in clean and "HTTP/1.1\" 200 -" in clean
    image = "/api/v1/uploads/7/content?t=eyJhbGciOi.abc-def_123&x=1"
    assert logs.redact(image) == "/api/v1/uploads/7/content?t=[redacted]&x=1"
    assert logs.redact("?code=081xYz&token=abc") == "?code=[redacted]&token=[redacted]"
    assert logs.redact("{'secret': 'sandbox-secret', \"access_token\": \"tok\"}") == \
        "{'secret': '[redacted]', \"access_token\": \"[redacted]\"}"
    assert logs.redact("Authorization: Bearer abc.DEF-123") == "Authorization: Bearer [redacted]"
    # Phone numbers, alone, after +86 or in Chinese text, are masked like everywhere else.
    assert logs.redact("用户13812345678绑定，备用 +8613987654321") == \
        "用户138****5678绑定，备用 +86139****4321"
    # Ids, hashes and timestamps are not phone numbers; error codes are not `code=`.
    for untouched in ("request 4f13812345678a9b", "at 1764633600123", "code: invalid_login_code",
                      "user 13812345678901 of 12345678901", "encode=ok"):
        assert logs.redact(untouched) == untouched


def test_the_access_line_carries_the_request_id_and_no_image_token(served, log_lines):
    response = requests.get(served + "/api/v1/uploads/1/content?t=signed.image-token",
                            headers={"X-Request-ID": "req-access-1"}, timeout=10)
    assert response.status_code == 404
    plain = requests.get(served + "/healthz", timeout=10)
    lines = log_lines()
    access = [line for line in lines if "werkzeug" in line and "/content" in line]
    assert len(access) == 1, lines
    assert "[req-access-1]" in access[0] and "t=[redacted]" in access[0]
    assert "signed.image-token" not in "\n".join(lines)
    # Without a header the id is made up, sent back, and in the line too.
    made_up = plain.headers["X-Request-ID"]
    assert any(f"[{made_up}]" in line and "/healthz" in line for line in lines), lines
    # Lines outside any request (a job, the dispatcher: threads of their own) say so.
    outside = threading.Thread(target=logging.getLogger("app.test").warning,
                               args=("no request here",))
    outside.start()
    outside.join(10)
    assert log_lines()[-1].split(" ")[3] == "[-]"


def test_the_sandbox_never_logs_the_appsecret_or_tokens(client, log_lines, sandbox):
    assert client.post("/api/v1/auth/login", json={"code": "sandbox:logged"}).status_code == 200
    text = "\n".join(log_lines())
    assert "GET /sns/jscode2session?" in text and "GET /cgi-bin/token?" in text
    assert "secret=[redacted]" in text and "access_token=[redacted]" in text
    for secret in ("sandbox-secret", "sandbox:logged", "sandbox-token-"):
        assert secret not in text


def test_an_error_log_keeps_its_request_id_and_loses_the_phone(client, auth, monkeypatch,
                                                              log_lines):
    from app.services import org

    def broken(*args, **kwargs):
        raise RuntimeError("failed for 13812345678 at /x?access_token=tok-123")

    headers = auth("someone")
    monkeypatch.setattr(org, "list_compounds", broken)
    response = client.get("/api/v1/compounds", headers={**headers, "X-Request-ID": "req-42"})
    assert response.status_code == 500
    text = "\n".join(log_lines())
    assert "ERROR [req-42] app.errors: uncaught exception" in text
    assert "RuntimeError: failed for 138****5678 at /x?access_token=[redacted]" in text  # traceback
    assert "13812345678" not in text and "tok-123" not in text


def test_a_points_adjustment_is_logged_without_its_reason(client, world, people, log_lines):
    response = client.post("/api/v1/points/adjustments", headers=people["demo-staff"], json={
        "user_id": world["users"]["demo-resident"], "amount": 5,
        "reason": "照顾独居的王奶奶，电话 13812345678"})
    assert response.status_code == 201
    entry_id = response.get_json()["entry"]["id"]
    lines = [line for line in log_lines() if "points adjustment" in line]
    assert len(lines) == 1
    assert lines[0].endswith(f"points adjustment +5 for user {world['users']['demo-resident']} "
                             f"by user {world['users']['demo-staff']} (entry {entry_id})")
    assert "王奶奶" not in "\n".join(log_lines())


def test_apscheduler_is_quiet_at_info_and_heard_at_debug(log_lines):
    from apscheduler.schedulers.background import BackgroundScheduler

    def run_a_scheduler():
        scheduler = BackgroundScheduler()
        scheduler.start(paused=True)
        scheduler.add_job(print, "interval", minutes=1)
        scheduler.shutdown(wait=False)

    logs.configure_logging("INFO")
    run_a_scheduler()
    assert not [line for line in log_lines() if "apscheduler" in line]
    logs.configure_logging("DEBUG")
    run_a_scheduler()
    assert any("apscheduler.scheduler: Added job" in line for line in log_lines())
    logs.configure_logging("ERROR")  # never louder than the rest
    assert logging.getLogger("apscheduler").getEffectiveLevel() == logging.ERROR


def test_the_dispatcher_logs_its_progress_while_it_runs(app, make_user, log_lines):
    user = make_user("u", follower=True)
    for n in range(5):
        notify(user, "work_digest", DIGEST, dedupe_key=f"progress-{n}")
    db.session.commit()
    stop = threading.Event()

    def work():
        with app.app_context():
            dispatch.run(stop=stop, batch_size=2, idle_sleep=0.05, progress_seconds=0)

    thread = threading.Thread(target=work)
    thread.start()

    def pending() -> int:
        return db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
            Notification.status != DeliveryStatus.SENT))

    for _ in range(200):
        if in_app(app, pending) == 0:
            break
        stop.wait(0.05)
    stop.set()
    thread.join(30)
    lines = [line for line in log_lines() if "notifications.dispatch" in line]
    assert "started, 2 notifications a batch" in lines[0]
    progress = [line for line in lines if " after " in line and "stopped" not in line]
    # One line a batch here (progress_seconds=0), each with the counts so far, then quiet
    # while idle.
    assert [line.split("'sent': ")[1].split(",")[0] for line in progress] == ["2", "4", "5"]
    assert "stopped after" in lines[-1] and "'sent': 5" in lines[-1]
    assert len(lines) == 5
