"""Keyset pagination: `{"items": [...], "next_cursor": "..." | null}` for every list.

The cursor is an opaque, URL-safe encoding of the last row's key; clients pass it back as
`?cursor=`. Ordering by a unique key means no page skips or repeats a row when rows are added.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Mapping

import sqlalchemy as sa

from app import fastread
from app.errors import ValidationFailed
from app.extensions import db


def encode_cursor(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str):
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("分页参数无效", code="invalid_cursor",
                               errors={"cursor": ["无效的游标"]}) from None


def paginate(query: sa.Select, key: sa.ColumnElement, cursor: str | None, limit: int,
             descending: bool = False) -> dict:
    """One page of `query` ordered by the unique integer column `key`.

    A query of one entity gives model instances; a query of several columns gives row
    mappings (with a column named like `key`): reading a mapping by key costs a sixth of
    reading a row's attribute."""
    return fetch_page(page_query(query, key, bool(cursor), limit, descending), key, cursor,
                      limit, built_once=False)


def page_query(query: sa.Select, key: sa.ColumnElement, paged: bool, limit: int,
               descending: bool = False) -> sa.Select:
    """`query` ordered by `key`, after the row given by the `page_after` parameter when
    `paged`, limited to one row more than a page (which tells whether another follows).
    Build it once for a hot list and run it with `fetch_page()`."""
    if paged:
        after = sa.bindparam("page_after")
        query = query.where(key < after if descending else key > after)
    # The limit is written into the SQL, not bound: PostgreSQL then reuses one generic plan
    # for a prepared list query; with a bound limit it plans every execution again.
    return query.order_by(key.desc() if descending else key.asc()).limit(
        sa.bindparam("page_limit", limit + 1, literal_execute=True))


def fetch_page(statement: sa.Select, key: sa.ColumnElement, cursor: str | None, limit: int,
               params: dict | None = None, *, built_once: bool = True) -> dict:
    """Run a `page_query()` with `params` and the cursor's key. A select of columns
    `built_once` (kept by its module) gives dicts, compiled once for the driver
    (app.fastread); a statement built for this request takes SQLAlchemy's path (its cache is
    keyed by the statement's structure) and gives entities or row mappings."""
    params = page_params(cursor, params)
    if not built_once:
        result = db.session.execute(statement, params)
        rows = result.scalars().all() if len(result.keys()) == 1 else result.mappings().all()
    else:
        rows = fastread.rows(statement, params)
    return page_from_rows(rows, key, limit)


def page_params(cursor: str | None, params: dict | None = None) -> dict:
    """`params` with the cursor's key as `page_after`: to run a `page_query()` (a page read
    together with other statements: `fastread.rows_together`, then `page_from_rows`)."""
    params = dict(params or {})
    if cursor:
        params["page_after"] = decode_cursor(cursor)
        if not isinstance(params["page_after"], int):
            raise ValidationFailed("分页参数无效", code="invalid_cursor",
                                   errors={"cursor": ["无效的游标"]})
    return params


def page_from_rows(rows: list, key: sa.ColumnElement, limit: int) -> dict:
    """The page of the rows a `page_query()` read (one more than `limit` if another page
    follows)."""
    if len(rows) <= limit:
        return {"items": rows, "next_cursor": None}
    last = rows[limit - 1]
    value = last[key.key] if isinstance(last, Mapping) else getattr(last, key.key)
    return {"items": rows[:limit], "next_cursor": encode_cursor(value)}


def pages(read):
    """Every item of a keyset-paged list: `read(cursor)` returns a page (`items`,
    `next_cursor`), called from no cursor until the last page (an export of a whole list)."""
    cursor = None
    while True:
        page = read(cursor)
        yield from page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return
