"""Six-digit pickup codes (redemptions now, canteen bookings next).

A code is random (`secrets`, never sequential, so one code does not reveal the next) and
unique within its scope while the record is open. The database decides uniqueness: the
caller's model has a partial unique index over the code (e.g. open redemptions), and a
collision is retried with a new code inside a savepoint. `parse` accepts the code as typed
or read from the QR payload (`linli:<kind>:<code>`).
"""
from __future__ import annotations

import re
import secrets

from sqlalchemy.exc import IntegrityError

from app.errors import ServiceUnavailable, ValidationFailed
from app.extensions import db

DIGITS = 6
ATTEMPTS = 20
PATTERN = re.compile(rf"^\d{{{DIGITS}}}$")


def new_code() -> str:
    return f"{secrets.randbelow(10 ** DIGITS):0{DIGITS}d}"


def insert_with_code(model, column: str = "pickup_code", **values):
    """Add a `model(**values)` row with a fresh code in `column`, retrying on a collision
    with the unique index; flushes (in a savepoint), never commits."""
    for _ in range(ATTEMPTS):
        row = model(**{column: new_code()}, **values)
        try:
            with db.session.begin_nested():
                db.session.add(row)
            return row
        except IntegrityError:
            continue
    raise ServiceUnavailable("取货码生成失败，请稍后再试", code="pickup_code_exhausted")


def check(code: str) -> str:
    """The code if it is six digits, else 422 `invalid_pickup_code`."""
    if not PATTERN.match(code):
        raise ValidationFailed("取货码应为 6 位数字", code="invalid_pickup_code",
                               errors={"code": ["应为 6 位数字"]})
    return code
