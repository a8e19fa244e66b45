"""Six-digit pickup codes (redemptions now, canteen bookings next), and the longer one-time
invite codes that verify a household member.

A code is random (`secrets`, never sequential, so one code does not reveal the next) and
unique within its scope while the record is open. The database decides uniqueness: the
caller's model has a partial unique index over the code (e.g. open redemptions), and a
collision is retried with a new code inside a savepoint. `parse` accepts the code as typed
or read from the QR payload (`linli:<kind>:<code>`).

A pickup code is shown to staff in person, so six digits suffice; an invite code grants a
resident's scope to whoever types it, so it is eight characters from a 32-letter alphabet
without look-alikes (32^8 ≈ 1.1e12 codes), and its route is rate limited.
"""
from __future__ import annotations

import re
import secrets

from sqlalchemy.exc import IntegrityError

from app.errors import ServiceUnavailable, ValidationFailed
from app.extensions import db

DIGITS = 6
ATTEMPTS = 20
PATTERN = re.compile(rf"^[0-9]{{{DIGITS}}}\Z")  # ASCII only (\d: any script); \Z: no "\n"
INVITE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0, 1, I, O
INVITE_LENGTH = 8


def new_code() -> str:
    return f"{secrets.randbelow(10 ** DIGITS):0{DIGITS}d}"


def new_invite_code() -> str:
    return "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_LENGTH))


def normalize_invite(code: str) -> str:
    """An invite code as typed: case and spaces do not matter."""
    return "".join(code.split()).upper()


def insert_with_code(model, column: str = "pickup_code", generate=None, **values):
    """Add a `model(**values)` row with a fresh code in `column` (`generate`, default a
    6-digit pickup code), retrying on a collision with the unique index; flushes (in a
    savepoint), never commits."""
    generate = generate or new_code
    for _ in range(ATTEMPTS):
        row = model(**{column: generate()}, **values)
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


def parse(text: str, kind: str) -> str:
    """A pickup code as typed ("123456") or scanned from its QR payload
    ("linli:<kind>:123456"), checked; a payload of another kind is refused like a bad code."""
    prefix = f"linli:{kind}:"
    return check(text[len(prefix):] if text.startswith(prefix) else text)
