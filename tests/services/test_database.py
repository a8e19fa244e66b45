"""How requests use the database: autocommit reads for GET, writes refused there, and idle
pooled connections tested before use (app/database.py)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app import create_app
from app.extensions import db
from app.models import User


def in_transaction() -> bool:
    """Whether the session's DBAPI connection has an open transaction after a read."""
    db.session.execute(sa.select(User.id).limit(1)).all()
    raw = db.session.connection().connection.dbapi_connection
    if db.engine.dialect.name == "postgresql":
        import psycopg

        return raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
    return raw.in_transaction


def test_get_reads_in_autocommit_and_post_in_a_transaction(app):
    with app.test_request_context("/api/v1/me", method="GET"):
        assert not in_transaction()
        db.session.remove()
    with app.test_request_context("/api/v1/incidents", method="POST"):
        assert in_transaction()
        db.session.remove()


def test_a_get_request_may_not_write(app):
    with app.test_request_context("/api/v1/me", method="GET"):
        db.session.add(User(openid="written-in-a-get", nickname="x"))
        with pytest.raises(RuntimeError, match="tried to write"):
            db.session.flush()
        db.session.rollback()
        with pytest.raises(RuntimeError, match="tried to write"):
            db.session.execute(sa.update(User).values(nickname="x"))
        db.session.remove()
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_a_session_outliving_a_get_writes_in_a_transaction_again(app, client, ctx):
    # A test's app context shares its session with the requests it makes.
    assert client.get("/healthz").status_code == 200
    db.session.add(User(openid="after-the-get", nickname="x"))
    db.session.flush()
    db.session.rollback()  # a real transaction: the rollback undoes the insert
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


@pytest.mark.parametrize("idle_seconds, status", [(0, 200), (3600, 503)])
def test_an_idle_connection_the_server_dropped_is_replaced(app, monkeypatch, idle_seconds,
                                                           status):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("a server that drops connections: PostgreSQL")
    monkeypatch.setenv("DATABASE_PING_IDLE_SECONDS", str(idle_seconds))
    other = create_app()
    with other.app_context():
        pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
        db.session.remove()  # back to the pool, where the server now drops it
    with app.app_context():
        assert db.session.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        db.session.remove()
    # Tested after being idle: replaced, the request succeeds. Not tested: it fails.
    assert other.test_client().get("/healthz").status_code == status
    with other.app_context():
        db.engine.dispose()
