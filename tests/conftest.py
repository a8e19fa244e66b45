"""Test fixtures: a real database (SQLite file, or PostgreSQL when DATABASE_URL is set), the
WeChat sandbox served over real HTTP in a thread, and the app configured against both.
"""
from __future__ import annotations

import contextlib
import io
import os
import threading

import pytest
import requests
import sqlalchemy as sa
from PIL import Image
from werkzeug.serving import make_server

from app.wechat.sandbox import create_sandbox_app


@pytest.fixture(scope="session")
def sandbox_url():
    server = make_server("127.0.0.1", 0, create_sandbox_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


@pytest.fixture(scope="session")
def app(tmp_path_factory, sandbox_url):
    tmp = tmp_path_factory.mktemp("linli")
    os.environ.update({
        "LINLI_ENV": "testing",
        "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'test.sqlite3'}",
        "WECHAT_API_BASE": sandbox_url,
        "WECHAT_TIMEOUT": "1",
        "UPLOAD_DIR": str(tmp / "uploads"),
        "SECRET_KEY": "test-secret",
        "LOG_LEVEL": "WARNING",
    })
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db

    app = create_app()
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()  # the schema comes from the migrations, as in production
    return app


@pytest.fixture(autouse=True)
def clean_state(app, sandbox_url):
    """Every test starts with empty tables, a fresh sandbox and fresh rate limits."""
    yield
    from app.extensions import db, limiter

    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if db.engine.dialect.name == "postgresql":
                conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(sa.text(f"DELETE FROM {table}"))
        limiter.reset()
    requests.post(sandbox_url + "sandbox/reset", timeout=5)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def demo(app):
    """The demo community; returns its ids by name."""
    from app.extensions import db
    from app.models import Building, Community, Compound, Department, Grid, User
    from app.services.demo.seed import seed_demo

    with app.app_context():
        seed_demo()
        ids = {
            "community": db.session.scalar(sa.select(Community.id)),
            "grids": list(db.session.scalars(sa.select(Grid.id).order_by(Grid.id))),
            "compounds": {c.name: c.id for c in db.session.scalars(sa.select(Compound))},
            "buildings": {(b.compound.name, b.name): b.id
                          for b in db.session.scalars(sa.select(Building))},
            "departments": {d.name: d.id for d in db.session.scalars(sa.select(Department))},
            "users": {u.openid: u.id for u in db.session.scalars(sa.select(User))},
        }
        db.session.remove()
    return ids


@pytest.fixture
def sandbox(sandbox_url):
    """Talk to the sandbox's control endpoints."""

    class Sandbox:
        url = sandbox_url

        def fault(self, path: str, errcode: int | None = None, count: int = 1,
                  delay: float = 0) -> None:
            requests.post(sandbox_url + "sandbox/faults", timeout=5, json={
                "path": path, "errcode": errcode, "count": count, "delay": delay}
            ).raise_for_status()

        def calls(self) -> dict:
            return requests.get(sandbox_url + "sandbox/calls", timeout=5).json()

        def expire_tokens(self) -> None:
            requests.post(sandbox_url + "sandbox/expire-tokens", timeout=5).raise_for_status()

    return Sandbox()


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
        engine = db_engine()

    def listener(_conn, _cursor, statement, *_):
        if not statement.startswith("BEGIN"):
            statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)


def db_engine():
    from app.extensions import db

    return db.engine


def login(client, openid: str) -> str:
    response = client.post("/api/v1/auth/login", json={"code": f"sandbox:{openid}"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["token"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth(client):
    """`auth("demo-resident")` -> Authorization headers of a fresh login."""
    return lambda openid: bearer(login(client, openid))



def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (30, 120, 30)).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture
def photo(client):
    """`photo(headers)` uploads a small JPEG as that user and returns its id."""
    def upload(headers) -> int:
        response = client.post("/api/v1/uploads", headers=headers,
                               data={"file": (io.BytesIO(jpeg()), "p.jpg")},
                               content_type="multipart/form-data")
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]
    return upload


@pytest.fixture
def people(demo, auth):
    """Bearer headers for every demo user, by openid (logged in once per test)."""
    return {openid: auth(openid) for openid in demo["users"]}


@pytest.fixture
def report(client, demo, people, photo):
    """`report(openid="demo-resident", **fields)` files an incident over HTTP; returns its body."""
    def file(openid: str = "demo-resident", expect: int = 201, **fields):
        body = {"category": "environment", "description": "楼下垃圾桶满了没人清运",
                "photo_ids": [photo(people[openid])],
                "building_id": demo["buildings"][("虹桥小区", "1号楼")], **fields}
        response = client.post("/api/v1/incidents", headers=people[openid], json=body)
        assert response.status_code == expect, response.get_json()
        return response.get_json()
    return file


@pytest.fixture
def act(client, people):
    """`act(openid, incident_id, action, expect=200, **fields)` posts a transition."""
    def post(openid: str, incident_id: int, action: str, expect: int = 200, **fields):
        response = client.post(f"/api/v1/incidents/{incident_id}/transitions",
                               headers=people[openid], json={"action": action, **fields})
        assert response.status_code == expect, response.get_json()
        return response.get_json()
    return post
