"""Keyset pagination: `{"items": [...], "next_cursor": "..." | null}` for every list.

The cursor is an opaque, URL-safe encoding of the last row's key; clients pass it back as
`?cursor=`. Ordering by a unique key means no page skips or repeats a row when rows are added.
"""
from __future__ import annotations

import base64
import json

import sqlalchemy as sa

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

    A query of one entity gives model instances; a query of several columns gives rows (with
    a column named like `key`)."""
    if cursor:
        last = decode_cursor(cursor)
        if not isinstance(last, int):
            raise ValidationFailed("分页参数无效", code="invalid_cursor",
                                   errors={"cursor": ["无效的游标"]})
        query = query.where(key < last if descending else key > last)
    # The limit is written into the SQL, not bound: PostgreSQL then reuses one generic plan
    # for a prepared list query; with a bound limit it plans every execution again.
    query = query.order_by(key.desc() if descending else key.asc()).limit(
        sa.bindparam("page_limit", limit + 1, literal_execute=True))
    result = db.session.execute(query)
    rows = result.scalars().all() if len(result.keys()) == 1 else result.all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(getattr(rows[-1], key.key)) if more else None
    return {"items": rows, "next_cursor": next_cursor}
