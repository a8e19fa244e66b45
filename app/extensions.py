"""Flask extensions, created unbound and initialised in `create_app()`."""
from __future__ import annotations

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
import sqlite3

import sqlalchemy as sa
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from app.errors import ErrorSchema

# Stable constraint names, so Alembic migrations behave the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class LinliApi(Api):
    """flask-smorest Api whose documented error payload is our envelope.

    Error handling itself lives in `app.errors` (registered after this Api so it wins).
    """

    ERROR_SCHEMA = ErrorSchema


def _limit_key() -> str:
    """Rate-limit per signed-in user when there is one, else per client address."""
    from flask import g

    user = getattr(g, "current_user", None)
    return f"user:{user.id}" if user is not None else get_remote_address()


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
api = LinliApi()
limiter = Limiter(key_func=_limit_key, default_limits=[])


def config_limit(name: str):
    """A Flask-Limiter limit string read from config at request time."""
    return lambda: current_app.config[name]


SQLITE_BUSY_TIMEOUT_MS = 5000


@sa.event.listens_for(sa.Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """SQLite: enforce foreign keys, write-ahead log, wait for a busy database instead of
    failing at once, and let SQLAlchemy (not pysqlite) begin transactions."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        # pysqlite's own transaction handling emits no BEGIN before a SAVEPOINT, so
        # releasing a savepoint would commit the whole transaction (SQLAlchemy docs,
        # "Serializable isolation / Savepoints / Transactional DDL"). We begin ourselves.
        dbapi_connection.isolation_level = None
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
