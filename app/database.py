"""How the app uses its database connections: SQLite settings, pinging idle connections,
autocommit reads for GET requests, commits held for an idempotent request, and
`outside_transaction()` before a remote call."""
from __future__ import annotations

import functools
import sqlite3
import time

import orjson
import sqlalchemy as sa
from flask import has_request_context, request
from flask_sqlalchemy.session import Session as FlaskSession

READ_METHODS = ("GET", "HEAD")
SQLITE_BUSY_TIMEOUT_MS = 5000


def reading() -> bool:
    """Whether the current request is a GET or HEAD (outside requests: no)."""
    return has_request_context() and request.method in READ_METHODS


class Session(FlaskSession):
    """Flask-SQLAlchemy's session; in a GET or HEAD request it reads in autocommit mode.

    A read then costs no BEGIN and no ROLLBACK round trip, and psycopg keeps the statements
    it has prepared (every rollback drops them). Consistency is unchanged: under READ
    COMMITTED each statement sees its own snapshot anyway. Writing in such a request is a
    bug, and refused, because it would not be atomic.

    While an idempotent request runs (`info["hold_commits"]`, set by
    app.services.idempotency.holding_commits) a commit that has something to write only
    flushes: the work then commits together with the request's stored response, so a
    request that dies between the two leaves neither. A commit with nothing to write still
    ends the transaction (`outside_transaction()` before a WeChat call)."""

    def commit(self) -> None:
        if self.info.get("hold_commits") and (
                self.new or self.dirty or self.deleted or self.info.get("written")):
            self.flush()
            return
        super().commit()

    def get_bind(self, *args, **kwargs):
        bind = super().get_bind(*args, **kwargs)
        if isinstance(bind, sa.Engine) and reading():
            self.info["read_only"] = True
            return _autocommit(bind)
        return bind


@functools.cache
def _autocommit(engine: sa.Engine) -> sa.Engine:
    """The engine in autocommit mode, sharing its pool."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


@sa.event.listens_for(Session, "before_flush")
def _refuse_flush(session, _context, _instances) -> None:
    if reading() and (session.new or session.dirty or session.deleted):
        raise RuntimeError(f"{request.method} {request.path} tried to write: reads only")


@sa.event.listens_for(Session, "do_orm_execute")
def _refuse_writes(state) -> None:
    if reading() and (state.is_insert or state.is_update or state.is_delete):
        raise RuntimeError(f"{request.method} {request.path} tried to write: reads only")


def end_read_only(session: Session) -> None:
    """After a GET request: end its autocommit transaction, so a session that outlives the
    request (a test's app context) does not write through it later."""
    if session.info.pop("read_only", False):
        try:
            session.rollback()
        except sa.exc.SQLAlchemyError:  # the database went away: the answer is already made
            session.close()


@sa.event.listens_for(Session, "after_flush")
def _mark_written(session, _context) -> None:
    session.info["written"] = True


@sa.event.listens_for(Session, "do_orm_execute")
def _mark_statement_written(state) -> None:
    # An INSERT/UPDATE/DELETE statement (notify(), a stock update) writes without a flush.
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info["written"] = True


@sa.event.listens_for(Session, "after_transaction_end")
def _clear_written(session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended: nothing is pending
        session.info.pop("written", None)


def outside_transaction(session=None) -> None:
    """End the current transaction before a remote call (WeChat): nothing may call out while
    holding locks or a connection. Refuses (RuntimeError) if the transaction has written or
    holds unflushed changes: committing half a service's work would break its atomicity.
    Loaded objects are expired, so the caller reads (and locks) again afterwards."""
    from app.extensions import db

    session = session or db.session()
    if session.new or session.dirty or session.deleted or session.info.get("written"):
        raise RuntimeError("outside_transaction() with pending writes: call out first")
    session.commit()


def ping_after_idle(engine: sa.Engine, seconds: float) -> None:
    """Test a pooled connection with a round trip before use if it sat in the pool longer
    than `seconds`, and replace it when the test fails: a database restart during a quiet
    spell fails no request, and busy workers skip the round trip SQLAlchemy's pre-ping adds
    to every request (a tenth of a list request's time)."""

    @sa.event.listens_for(engine, "checkin")
    def _idle_since(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _ping(dbapi_connection, record, _proxy) -> None:
        since = record.info.pop("idle_since", None)
        if since is not None and time.monotonic() - since >= seconds:
            try:
                engine.dialect.do_ping(dbapi_connection)
            except engine.dialect.loaded_dbapi.Error as error:
                # The pool drops this connection and checks out another (SQLAlchemy docs,
                # "Disconnect Handling - Pessimistic, custom").
                raise sa.exc.DisconnectionError() from error


@sa.event.listens_for(sa.Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """SQLite: enforce foreign keys, write-ahead log, wait for a busy database instead of
    failing at once, and let SQLAlchemy (not pysqlite) begin transactions."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        _sqlite_own_transactions(dbapi_connection)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()


@sa.event.listens_for(sa.Engine, "begin")
def _sqlite_begin(conn) -> None:
    # IMMEDIATE takes the write lock up front, waiting busy_timeout for it. A deferred
    # transaction that reads and then writes fails at once ("database is locked") when
    # another connection wrote in between, which concurrent requests do all the time.
    # SQLite is the embedded default; PostgreSQL is what runs concurrent load.
    if conn.dialect.name == "sqlite" and \
            conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@sa.event.listens_for(sa.pool.Pool, "checkout")
def _sqlite_own_transactions(dbapi_connection, *_args) -> None:
    # pysqlite's own transaction handling emits no BEGIN before a SAVEPOINT, so releasing a
    # savepoint would commit the whole transaction (SQLAlchemy docs, "Serializable isolation
    # / Savepoints / Transactional DDL"). We begin ourselves. Checked out again after an
    # autocommit read, SQLAlchemy has given the connection back to pysqlite: take it back.
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.isolation_level = None


def json_rows(dialect: str, name: str, columns: dict[str, str], rows: list) -> sa.Subquery:
    """`rows` (lists of JSON values, in `columns`' order) as a subquery named `name`, bound
    as ONE JSON parameter that the database unpacks (`json_array_elements` on PostgreSQL,
    `json_each` on SQLite). A batch statement then binds one parameter however many rows it
    carries: psycopg adapts every bound parameter separately, which for a thousand-row
    VALUES or IN list costs more than the statement itself.

    `columns` maps each column to its SQL type (`integer`, `text`, `timestamp`…); `json`
    keeps the value as JSON (a payload column)."""
    if dialect == "postgresql":
        def item(i: int, kind: str) -> str:
            return f"e->{i}" if kind == "json" else f"CAST(e->>{i} AS {kind})"
        source = f"json_array_elements(CAST(:{name} AS json)) AS e"
    else:
        def item(i: int, kind: str) -> str:
            value = f"json_extract(e.value, '$[{i}]')"
            return value if kind == "json" else f"CAST({value} AS {kind})"
        source = f"json_each(:{name}) AS e"
    select = ", ".join(f"{item(i, kind)} AS {column}"
                       for i, (column, kind) in enumerate(columns.items()))
    return sa.text(f"SELECT {select} FROM {source}").bindparams(
        **{name: orjson.dumps(rows).decode()}).columns(
        *[sa.column(column) for column in columns]).subquery(name)


def expire_loaded(model: type, key: str, values, attributes: list[str]) -> None:
    """After a bulk UPDATE (`synchronize_session=False`): the objects of `model` loaded in
    this session whose `key` is among `values` read `attributes` afresh next time."""
    from app.extensions import db
    wanted = set(values)
    for loaded in list(db.session.identity_map.values()):
        if isinstance(loaded, model) and getattr(loaded, key) in wanted:
            db.session.expire(loaded, attributes)
