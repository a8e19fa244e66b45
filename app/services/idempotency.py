"""`Idempotency-Key`: a repeated request returns the first result and changes nothing.

The key is reserved (committed) before the work runs, so two copies racing each other
cannot both run: the second sees the reservation and answers 409 until the first finishes,
then gets the stored response. A request that fails with an error releases its key, so the
client may retry it.
"""
from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.models import IdempotencyRecord


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def reserve(user_id: int, key: str, fp: str) -> IdempotencyRecord | None:
    """Reserve the key; return the earlier record instead if it was used before."""
    if not 1 <= len(key) <= 128:
        raise ValidationFailed("Idempotency-Key 长度应为 1–128 个字符",
                               code="invalid_idempotency_key")
    record = IdempotencyRecord(user_id=user_id, key=key, fingerprint=fp)
    db.session.add(record)
    try:
        db.session.commit()
        return None
    except IntegrityError:
        db.session.rollback()
    earlier = db.session.scalar(sa.select(IdempotencyRecord).where(
        IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key))
    if earlier is None:  # released between our insert and this read: let the client retry
        raise Conflict("相同的请求正在处理中，请稍后再试", code="idempotency_in_progress")
    if earlier.fingerprint != fp:
        raise ValidationFailed("Idempotency-Key 已用于另一个请求", code="idempotency_key_reused")
    if earlier.status_code is None:
        raise Conflict("相同的请求正在处理中，请稍后再试", code="idempotency_in_progress")
    return earlier


def complete(user_id: int, key: str, status_code: int, body: str) -> None:
    db.session.execute(sa.update(IdempotencyRecord).where(
        IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
        .values(status_code=status_code, response_body=body))
    db.session.commit()


def release(user_id: int, key: str) -> None:
    db.session.rollback()
    db.session.execute(sa.delete(IdempotencyRecord).where(
        IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key,
        IdempotencyRecord.status_code.is_(None)))
    db.session.commit()
