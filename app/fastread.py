"""Hot reads through the driver: a Core select run by psycopg itself in a GET request.

`rows(statement, params)` gives the rows of a select of columns as dicts (or tuples).
In a read request on PostgreSQL the statement, compiled once, runs on the session's
connection through psycopg (prepared server-side, like every repeated statement), and the
values pass through the same bind and result processors SQLAlchemy would apply (UTC
datetimes, enums, JSON). That skips what SQLAlchemy adds to each execution (the statement's
cache key, the result metadata from the cursor's description, Row objects): a third of a
list page's time, and two thirds of the token lookup's. The engine's cursor events still
fire for each statement. `rows_together(...)` runs several reads that do not depend on
each other in one round trip (psycopg's pipeline mode).

Anything else takes SQLAlchemy's own path, with the same rows: another driver (SQLite), a
write request or a job (a transaction, after a flush), ORM entities (through the session),
or a statement whose SQL is only known at execution (an expanding IN list). Plain columns
run on the session's connection there too, without the ORM's result loading.

A value written into the SQL (`literal_execute`: a LIMIT, a status filter, a scope's ids)
is rendered once for each value.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import psycopg
import sqlalchemy as sa

from app.database import reading
from app.extensions import db

# The SQL of a statement with a value written into it (a status filter) is kept for this
# many distinct values; past that it is rendered for each run.
LITERAL_VARIANTS = 64


@dataclass
class _Compiled:
    compiled: sa.sql.compiler.Compiled
    keys: tuple[str, ...]
    types: tuple  # the columns' SQLAlchemy types
    defaults: dict  # the statement's own bound values (by bind name)
    binds: tuple  # (bind name, bind processor) for the binds that have one
    # The binds whose value the caller gives and that are written into the SQL at each run
    # (literal_execute), and the SQL by their values (the key () without such a bind).
    literals: tuple[str, ...]
    variants: dict = field(default_factory=dict)
    # (column index, result processor) for the columns that have one: set at the first run,
    # from the driver's column types as SQLAlchemy does (psycopg's numeric needs them).
    results: tuple | None = None

    def sql_for(self, values: dict) -> str:
        """The SQL of this run: the literal binds' values (a LIMIT, a status, ids) written
        in, rendered once for each value."""
        key = tuple(tuple(value) if isinstance(value, list) else value
                    for value in (values[name] for name in self.literals))
        sql = self.variants.get(key)
        if sql is None:
            sql = (self.compiled.construct_expanded_state(values).statement
                   if self.compiled.literal_execute_params else self.compiled.string)
            if len(self.variants) < LITERAL_VARIANTS:
                self.variants[key] = sql
        return sql


@functools.lru_cache(maxsize=1024)
def _columns_only(statement: sa.Select) -> bool:
    """Whether the statement selects columns only (no ORM entity the session must build)."""
    return all(isinstance(d["type"], sa.types.TypeEngine) for d in statement.column_descriptions)


@functools.lru_cache(maxsize=1024)
def _compiled(statement: sa.Select, dialect: sa.Dialect) -> _Compiled | None:
    """The statement compiled for the driver path, or None if it must take SQLAlchemy's."""
    if not _columns_only(statement):
        return None
    compiled = statement.compile(dialect=dialect)
    if compiled.post_compile_params:
        return None  # the SQL depends on the number of values (an expanding IN list)
    written = compiled.literal_execute_params
    names = {name: bind for bind, name in compiled.bind_names.items()}  # as in the SQL
    bound = {name: bind for name, bind in names.items() if bind not in written}
    binds = []
    for name, bind in bound.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            binds.append((name, process))
    return _Compiled(compiled, tuple(statement.selected_columns.keys()),
                     tuple(column.type for column in statement.selected_columns),
                     {name: bind.effective_value for name, bind in bound.items()
                      if not bind.required}, tuple(binds),
                     tuple(name for name, bind in names.items()
                           if bind in written and bind.required))


def _result_processors(compiled: _Compiled, description, dialect: sa.Dialect) -> tuple:
    found = []
    for index, (type_, column) in enumerate(zip(compiled.types, description, strict=True)):
        process = type_.dialect_impl(dialect).result_processor(dialect, column.type_code)
        if process is not None:
            found.append((index, process))
    return tuple(found)


def _planned(statement: sa.Select, params: dict | None, bind) -> tuple | None:
    """(compiled, SQL, values) of a statement that takes the driver path, or None."""
    compiled = (_compiled(statement, bind.dialect)
                if reading() and bind.dialect.driver == "psycopg" else None)
    if compiled is None:
        return None
    values = {**compiled.defaults, **(params or {})}
    sql = compiled.sql_for(values)
    for name, process in compiled.binds:
        values[name] = process(values[name])
    return compiled, sql, values


def _sqlalchemy_rows(statement: sa.Select, params: dict | None, mappings: bool) -> list:
    session = db.session()
    if _columns_only(statement):  # Core rows: no ORM loading over plain columns
        session.flush()  # as the session's autoflush would
        result = session.connection().execute(statement, params or {})
    else:
        result = session.execute(statement, params or {})
    return result.mappings().all() if mappings else result.all()


def _translated(error: psycopg.Error, connection, cursor, sql: str, values: dict):
    """A driver error as SQLAlchemy raises it (a dropped connection invalidated: the app
    answers that the database is unavailable)."""
    bind = connection.engine
    invalidated = bind.dialect.is_disconnect(error, connection.connection.driver_connection,
                                             cursor)
    if invalidated:
        connection.invalidate(error)
    return sa.exc.DBAPIError.instance(sql, values, error, psycopg.Error,
                                      connection_invalidated=invalidated,
                                      dialect=bind.dialect)


def _shaped(compiled: _Compiled, cursor, data: list, dialect, mappings: bool) -> list:
    """The driver's rows through the columns' result processors, as dicts or tuples."""
    if compiled.results is None:
        compiled.results = _result_processors(compiled, cursor.description, dialect)
    if compiled.results:
        data = [list(row) for row in data]
        for row in data:
            for index, process in compiled.results:
                row[index] = process(row[index])
    if mappings:
        keys = compiled.keys
        return [dict(zip(keys, row, strict=True)) for row in data]
    return [tuple(row) for row in data] if compiled.results else data


def rows(statement: sa.Select, params: dict | None = None, *, mappings: bool = True) -> list:
    """The rows of `statement` with `params`: mappings by column key (dicts on the driver
    path) or tuples."""
    session = db.session()
    bind = session.get_bind()
    planned = _planned(statement, params, bind)
    if planned is None:
        return _sqlalchemy_rows(statement, params, mappings)
    compiled, sql, values = planned
    connection = session.connection()
    cursor = connection.connection.driver_connection.cursor()
    # The engine's cursor events fire as on SQLAlchemy's path (query counters, timers).
    connection.dispatch.before_cursor_execute(connection, cursor, sql, values, None,
                                              False)
    try:
        data = cursor.execute(sql, values, prepare=True).fetchall()
    except psycopg.Error as error:
        raise _translated(error, connection, cursor, sql, values) from error
    connection.dispatch.after_cursor_execute(connection, cursor, sql, values, None,
                                             False)
    return _shaped(compiled, cursor, data, bind.dialect, mappings)


def rows_together(*reads: tuple[sa.Select, dict | None]) -> list[list[dict]]:
    """`rows()` of several (statement, params) that do not depend on each other, as
    mappings: on the driver path in one round trip (psycopg's pipeline mode: every
    statement is sent, then one Sync, then every result is read), which saves the server
    and the app a round trip's work for each statement after the first; elsewhere one
    after another."""
    session = db.session()
    bind = session.get_bind()
    planned = [_planned(statement, params, bind) for statement, params in reads]
    if len(reads) < 2 or None in planned:
        return [rows(statement, params) for statement, params in reads]
    connection = session.connection()
    driver = connection.connection.driver_connection
    sent = []
    try:
        with driver.pipeline():
            for _, sql, values in planned:
                cursor = driver.cursor()
                connection.dispatch.before_cursor_execute(connection, cursor, sql, values,
                                                          None, False)
                cursor.execute(sql, values, prepare=True)
                sent.append(cursor)
        data = [cursor.fetchall() for cursor in sent]
    except psycopg.Error as error:  # the statements are named together in the message
        raise _translated(error, connection, None, ";\n".join(plan[1] for plan in planned),
                          {}) from error
    shaped = []
    for cursor, (compiled, sql, values), found in zip(sent, planned, data, strict=True):
        connection.dispatch.after_cursor_execute(connection, cursor, sql, values, None,
                                                 False)
        shaped.append(_shaped(compiled, cursor, found, bind.dialect, True))
    return shaped
