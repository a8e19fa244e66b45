"""Small helpers shared by services. They flush, never commit."""
from __future__ import annotations

from typing import Callable, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.extensions import db

M = TypeVar("M")


def get_or_create(model: type[M], *, init: Callable[[M], None] | None = None, **keys) -> M:
    """The row of `model` with these unique `keys`, inserted if missing (see `insert_or_get`)."""
    return insert_or_get(model, init=init, **keys)[0]


def insert_or_get(model: type[M], *, init: Callable[[M], None] | None = None,
                  **keys) -> tuple[M, bool]:
    """The row of `model` with these unique `keys`, inserted if missing; and whether it was.

    Safe under concurrency: when another transaction inserts the same keys first, the
    unique constraint fails inside a savepoint and the existing row is returned.
    `init` sets up a new row (extra columns, children) before it is inserted.
    """
    query = sa.select(model).filter_by(**keys)
    row = db.session.scalar(query)
    if row is not None:
        return row, False
    try:
        with db.session.begin_nested():
            row = model(**keys)
            if init is not None:
                init(row)
            db.session.add(row)
    except IntegrityError:
        row = db.session.scalar(query)
        if row is None:
            raise
        return row, False
    return row, True
