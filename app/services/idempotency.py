"""`Idempotency-Key`: a repeated request returns the first result and changes nothing.

The key is reserved (committed) before the work runs, so two copies racing each other
cannot both run: the second sees the reservation and answers 409 until the first finishes,
then gets the stored response.

The work and its stored response commit in one transaction: while the request runs, the
service's own commit only flushes (`holding_commits`, app.database.Session.commit), and
`complete` writes the response and commits both. A request that dies anywhere (an error,
the database gone, the process killed) leaves the work done and answered, or not done.

A request that fails releases its key, so the client may retry it. One that could not
(its process killed, the database unreachable) leaves its reservation behind: once that is
older than IDEMPOTENCY_RESERVATION_SECONDS a retry takes it over. Should the first request
still be alive after all, it cannot commit its work any more: `complete` finds its
reservation gone and answers 409.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.models import IdempotencyRecord
from app.models.base import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reservation:
    """This request's hold on its key (`id`), or the earlier answer to replay (`replay`)."""

    id: int | None
    replay: IdempotencyRecord | None = None


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def _in_progress() -> Conflict:
    return Conflict("相同的请求正在处理中，请稍后再试", code="idempotency_in_progress")


def reserve(user_id: int, key: str, fp: str) -> Reservation:
    """Reserve the key (committed); or the earlier answer if it was used before. 409 while
    the first request runs, 422 for another request under the same key."""
    if not 1 <= len(key) <= 128:
        raise ValidationFailed("Idempotency-Key 长度应为 1–128 个字符",
                               code="invalid_idempotency_key")
    for _attempt in range(2):  # once more after taking over a dead request's reservation
        record = IdempotencyRecord(user_id=user_id, key=key, fingerprint=fp, created_at=utcnow())
        db.session.add(record)
        try:
            db.session.flush()
            reserved = record.id
            db.session.commit()
            return Reservation(reserved)
        except IntegrityError:
            db.session.rollback()
        earlier = db.session.scalar(sa.select(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key))
        if earlier is None:  # released between our insert and this read: let the client retry
            raise _in_progress()
        if earlier.fingerprint != fp:
            raise ValidationFailed("Idempotency-Key 已用于另一个请求", code="idempotency_key_reused")
        if earlier.status_code is not None:
            return Reservation(None, earlier)
        if not _abandoned(earlier) or not _take_over(earlier):
            raise _in_progress()
    raise _in_progress()


def _abandoned(record: IdempotencyRecord) -> bool:
    held = timedelta(seconds=current_app.config["IDEMPOTENCY_RESERVATION_SECONDS"])
    return record.created_at < utcnow() - held


def _take_over(record: IdempotencyRecord) -> bool:
    """Remove a dead request's reservation (only if still unanswered); whether we did."""
    gone = db.session.execute(sa.delete(IdempotencyRecord).where(
        IdempotencyRecord.id == record.id, IdempotencyRecord.status_code.is_(None))).rowcount
    db.session.commit()
    if gone:
        log.warning("Idempotency-Key reservation %s (user %s) unanswered since %s: taken over",
                    record.id, record.user_id, record.created_at.isoformat())
    return bool(gone)


@contextlib.contextmanager
def holding_commits():
    """While the block runs, a service's commit only flushes; `complete` commits the work
    with its stored response, `release` rolls it back."""
    session = db.session()
    session.info["hold_commits"] = True
    try:
        yield
    finally:
        session.info.pop("hold_commits", None)


def complete(reservation: Reservation, status_code: int, body: str) -> None:
    """Store the response and commit it with the request's work; 409 (and nothing kept) if
    the reservation was taken over meanwhile (this request was thought dead)."""
    db.session.info.pop("hold_commits", None)
    stored = db.session.execute(sa.update(IdempotencyRecord).where(
        IdempotencyRecord.id == reservation.id, IdempotencyRecord.status_code.is_(None))
        .values(status_code=status_code, response_body=body)).rowcount
    if not stored:
        db.session.rollback()
        log.warning("Idempotency-Key reservation %s was taken over: work rolled back",
                    reservation.id)
        raise _in_progress()
    db.session.commit()


def release(reservation: Reservation) -> None:
    """Roll back the request's work and free its key. Never raises: when the database is
    unreachable the reservation stays, and a retry takes it over once it has expired."""
    db.session.info.pop("hold_commits", None)
    try:
        db.session.rollback()
        db.session.execute(sa.delete(IdempotencyRecord).where(
            IdempotencyRecord.id == reservation.id, IdempotencyRecord.status_code.is_(None)))
        db.session.commit()
    except SQLAlchemyError as error:
        log.warning("Idempotency-Key reservation %s not released (%s): it expires instead",
                    reservation.id, type(error).__name__)
        with contextlib.suppress(SQLAlchemyError):
            db.session.rollback()
