"""Plain helpers that tests import (fixtures live in tests/fixtures/, loaded by conftest)."""
from __future__ import annotations

import contextlib
import io
import threading

import sqlalchemy as sa
from PIL import Image
from werkzeug.serving import make_server

from app.extensions import db


def in_app(app, fn):
    """Run fn() in a fresh app context (its own session) and return its result: route tests
    keep the test's own session out of the requests' way."""
    with app.app_context():
        try:
            return fn()
        finally:
            db.session.remove()


def run_together(n: int, work) -> list:
    """Call work(i) in n threads released at the same instant; an exception is a result."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def target(i):
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - the test's assertions report it
            results[i] = exc

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


@contextlib.contextmanager
def counting_queries(app):
    """Collect the SQL statements run inside the block (our SQLite BEGIN is not counted)."""
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def listener(_conn, _cursor, statement, *_):
        if not statement.startswith("BEGIN"):
            statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)


@contextlib.contextmanager
def serving(wsgi_app, suffix: str = ""):
    """`wsgi_app` behind werkzeug's threaded server on a free port (one thread, and so one
    session, per request); yields its base URL, e.g. "http://127.0.0.1:5xxxx" + suffix."""
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}{suffix}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def login(client, openid: str) -> str:
    response = client.post("/api/v1/auth/login", json={"code": f"sandbox:{openid}"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["token"]


def login_many(app, client, openids) -> list[dict]:
    """Bearer headers for many logins; the login rate limit (per address) is reset every ten,
    since it is not what such a test is about."""
    from app.extensions import limiter

    headers = []
    for i, openid in enumerate(openids):
        if i % 10 == 0:
            in_app(app, limiter.reset)
        headers.append(bearer(login(client, openid)))
    return headers


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def jpeg() -> bytes:
    out = io.BytesIO()
    with Image.new("RGB", (32, 24), (30, 120, 30)) as image:
        image.save(out, format="JPEG")
    return out.getvalue()
