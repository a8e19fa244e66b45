"""Hot reads through the driver (app/fastread.py): the same rows as SQLAlchemy's path, the
engine's cursor events, SQLAlchemy's path wherever the driver path does not apply, and a
connection the server dropped answered as the database being unavailable; several reads in
one round trip."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from app import fastread
from app.errors import database_unavailable
from app.extensions import db
from app.models import Incident, IncidentStatus, User
from app.services.incidents import queries
from app.services.pagination import encode_cursor, page_from_rows, page_params
from app.services.permissions import Principal
from tests.helpers import counting_queries

incidents = Incident.__table__


def on_postgres() -> bool:
    return db.engine.dialect.driver == "psycopg"


def postgres_only(app, what: str) -> None:
    with app.app_context():
        if not on_postgres():
            pytest.skip(f"{what}: PostgreSQL")


NOBODY = {"viewer": 0}  # the list statements' viewer: nobody's own rows


def sqlalchemy_rows(statement, params) -> list[dict]:
    return [dict(row) for row in db.session.execute(statement, params).mappings()]


def test_a_page_reads_as_sqlalchemy_reads_it(app, report, people, act):
    first = report()["id"]
    report(description="路灯不亮，晚上看不见台阶", anonymous=True)
    act("demo-grid-worker", first, "accept")
    statement = queries._list_statement(("all",), (), False, 20)
    # Typed values through bind processors, and one that is not a column type's own.
    typed = sa.select(incidents.c.id, incidents.c.status, incidents.c.created_at,
                      (incidents.c.follower_count + sa.literal(Decimal("0.5"))).label("half"),
                      incidents.c.rating).where(
        incidents.c.status == sa.bindparam("status", type_=incidents.c.status.type))
    with app.test_request_context("/api/v1/incidents", method="GET"):
        dialect = db.session.get_bind().dialect
        assert fastread._compiled(statement, dialect) is not None
        assert fastread._compiled(typed, dialect) is not None
        got = fastread.rows(statement, NOBODY)
        assert got == sqlalchemy_rows(statement, NOBODY)
        assert len(got) == 2 and all(isinstance(row, Mapping) for row in got)
        nobody = Principal(0, None, None, None, ())
        accepted = next(row for row in queries.named(nobody, got) if row["id"] == first)
        assert accepted["status"] is IncidentStatus.ACCEPTED
        assert accepted["created_at"].tzinfo is timezone.utc
        assert accepted["compound_name"] == "虹桥小区" and accepted["category_code"] == "environment"
        params = {"status": IncidentStatus.ACCEPTED}
        assert fastread.rows(typed, params) == sqlalchemy_rows(typed, params)
        assert fastread.rows(typed, params, mappings=False) == [
            tuple(row) for row in db.session.execute(typed, params)]
        assert [(row["id"], row["half"]) for row in fastread.rows(typed, params)] == [
            (first, Decimal("0.5"))]
        db.session.remove()


def test_every_statement_is_seen_by_the_engines_cursor_events(app, report, people):
    report()
    statement = queries._list_statement(("all",), (), False, 20)
    with counting_queries(app) as seen, app.test_request_context("/x", method="GET"):
        fastread.rows(statement, NOBODY)
        fastread.rows(statement, NOBODY)
        db.session.remove()
    assert len(seen) == 2 and all("FROM incidents" in sql for sql in seen)


def test_what_the_driver_path_cannot_run_takes_sqlalchemys(app, report, people):
    report()
    expanding = sa.select(incidents.c.id, incidents.c.status).where(
        incidents.c.id.in_(sa.bindparam("ids", expanding=True)))
    entity = sa.select(User).where(User.openid == "demo-resident")
    with app.test_request_context("/x", method="GET"):
        dialect = db.session.get_bind().dialect
        assert fastread._compiled(expanding, dialect) is None
        assert fastread._compiled(entity, dialect) is None
        ids = [row["id"] for row in fastread.rows(sa.select(incidents.c.id), {})]
        assert [row["id"] for row in fastread.rows(expanding, {"ids": ids})] == ids
        [(user,)] = fastread.rows(entity, mappings=False)
        assert isinstance(user, User) and user.openid == "demo-resident"
        db.session.remove()


def test_outside_a_read_request_the_session_autoflushes_as_usual(app, ctx):
    # A job or a write request reads its own pending changes (the session path).
    db.session.add(User(openid="pending-in-a-job", nickname="待写入"))
    found = fastread.rows(sa.select(User.__table__.c.nickname).where(
        User.__table__.c.openid == "pending-in-a-job"))
    assert [dict(row) for row in found] == [{"nickname": "待写入"}]
    db.session.rollback()


def test_a_connection_the_server_dropped_is_invalidated_and_means_unavailable(app, report):
    postgres_only(app, "a server that drops connections")
    report()
    statement = queries._list_statement(("all",), (), False, 20)
    with app.test_request_context("/x", method="GET"):
        fastread.rows(statement, NOBODY)
        pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
        with db.engine.connect() as other:
            assert other.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(sa.exc.DBAPIError) as raised:
            fastread.rows(statement, NOBODY)
        assert raised.value.connection_invalidated and database_unavailable(raised.value)
        db.session.remove()
    with app.test_request_context("/x", method="GET"):  # the pool gives a new connection
        assert len(fastread.rows(statement, NOBODY)) == 1
        db.session.remove()


def test_a_value_written_into_the_sql_is_rendered_once_for_each_value(app, report, people,
                                                                      act):
    first, second = report()["id"], report(description="电梯按钮失灵，按了没有反应")["id"]
    act("demo-grid-worker", first, "accept")
    statement = sa.select(incidents.c.id, incidents.c.status).where(
        incidents.c.status == sa.bindparam("status", literal_execute=True))
    with app.test_request_context("/x", method="GET"):
        for status, expected in ((IncidentStatus.ACCEPTED, [first]),
                                 (IncidentStatus.DISPATCHED, [second]),
                                 (IncidentStatus.ACCEPTED, [first])):
            got = fastread.rows(statement, {"status": status})
            assert [row["id"] for row in got] == expected
            assert got == sqlalchemy_rows(statement, {"status": status})
        compiled = fastread._compiled(statement, db.session.get_bind().dialect)
        if on_postgres():
            assert sorted(compiled.variants.values()) == sorted(
                [compiled.compiled.string.replace("__[POSTCOMPILE_status]", f"'{s.value}'")
                 for s in (IncidentStatus.ACCEPTED, IncidentStatus.DISPATCHED)])
        db.session.remove()


def test_an_id_list_written_into_the_sql_is_kept_for_each_set_of_ids(app, report, people):
    first, second = report()["id"], report(description="电梯按钮失灵，按了没有反应")["id"]
    statement = sa.select(incidents.c.id).where(incidents.c.id.in_(
        sa.bindparam("ids", expanding=True, literal_execute=True))).order_by(incidents.c.id)
    with app.test_request_context("/x", method="GET"):
        for ids, expected in (([first], [first]), ([first, second], [first, second]),
                              ([second], [second]), ([first], [first])):
            got = fastread.rows(statement, {"ids": ids})
            assert [row["id"] for row in got] == expected
            assert got == sqlalchemy_rows(statement, {"ids": ids})
        if on_postgres():
            compiled = fastread._compiled(statement, db.session.get_bind().dialect)
            assert sorted(compiled.variants) == sorted(  # keyed by the literal binds' values
                [((first,),), ((first, second),), ((second,),)])
        db.session.remove()


def test_reads_together_give_what_each_read_gives_alone(app, report, people, act):
    first, second = report()["id"], report(description="电梯按钮失灵，按了没有反应")["id"]
    act("demo-grid-worker", first, "accept")
    listed = queries._list_statement(("all",), (), False, 1)  # one a page: a next page
    after = queries._list_statement(("all",), (), True, 1)
    by_status = sa.select(incidents.c.id, incidents.c.created_at).where(
        incidents.c.status == sa.bindparam("status", type_=incidents.c.status.type))
    reads = [(listed, NOBODY), (by_status, {"status": IncidentStatus.ACCEPTED}),
             (after, page_params(encode_cursor(second), NOBODY))]
    with counting_queries(app) as seen, app.test_request_context("/x", method="GET"):
        together = fastread.rows_together(*reads)
        db.session.remove()
    assert len(seen) == 3  # the engine's cursor events fire for each statement
    with app.test_request_context("/x", method="GET"):
        assert together == [fastread.rows(statement, params) for statement, params in reads]
        db.session.remove()
    newest, accepted, after_second = together
    assert [row["id"] for row in newest] == [second, first]  # the page's extra row
    assert page_from_rows(newest, incidents.c.id, 1)["next_cursor"] == encode_cursor(second)
    assert [row["id"] for row in accepted] == [first]
    assert accepted[0]["created_at"].tzinfo is timezone.utc
    assert [row["id"] for row in after_second] == [first]
    with app.app_context():  # outside a read request: one after another, the same rows
        assert fastread.rows_together(*reads[1:]) == together[1:]
        db.session.remove()


def test_a_read_together_that_fails_raises_and_leaves_the_connection_usable(app, report):
    postgres_only(app, "psycopg's pipeline")
    report()
    ids = sa.select(incidents.c.id)
    failing = sa.select((sa.literal(1) / (sa.func.count() - sa.func.count())).label("x"))
    with app.test_request_context("/x", method="GET"):
        with pytest.raises(sa.exc.DBAPIError) as raised:
            fastread.rows_together((ids, {}), (failing, {}), (ids, {}))
        assert "division by zero" in str(raised.value) and not database_unavailable(raised.value)
        assert len(fastread.rows_together((ids, {}), (ids, {}))[1]) == 1
        db.session.remove()


def test_reads_together_over_a_dropped_connection_mean_unavailable(app, report):
    postgres_only(app, "a server that drops connections")
    report()
    ids = sa.select(incidents.c.id)
    with app.test_request_context("/x", method="GET"):
        fastread.rows(ids)
        pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
        with db.engine.connect() as other:
            assert other.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(sa.exc.DBAPIError) as raised:
            fastread.rows_together((ids, {}), (ids, {}))
        assert raised.value.connection_invalidated and database_unavailable(raised.value)
        db.session.remove()
    with app.test_request_context("/x", method="GET"):
        assert [len(found) for found in fastread.rows_together((ids, {}), (ids, {}))] == [1, 1]
        db.session.remove()
