"""The audit log of console writes: who, what, when, the state before and after.

`record` adds the row in the caller's transaction and flushes, never commits.
`audited_write` runs a service (which commits at its end) with its commits held (the mechanism of
idempotent requests, app.services.idempotency.holding_commits), adds the audit row and
commits once: the write and its audit row commit together or not at all. `audited` is that
for one row, its "before" read just before the service runs (the service then locks and
checks the row itself).
`snapshot` picks the audited fields of a record as JSON-safe values."""
from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import date

import sqlalchemy as sa

from app.extensions import db
from app.models import ConsoleAudit
from app.services.idempotency import holding_commits


def snapshot(record, fields: tuple[str, ...]) -> dict:
    def plain(value):
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, date):  # datetimes too
            return value.isoformat()
        return value
    return {name: plain(getattr(record, name)) for name in fields}


def record(actor_id: int, action: str, target_kind: str, target_id: int | None,
           before: dict | None, after: dict | None) -> ConsoleAudit:
    row = ConsoleAudit(actor_id=actor_id, action=action, target_kind=target_kind,
                       target_id=target_id, before=before, after=after)
    db.session.add(row)
    db.session.flush()
    return row


def audited_write(actor_id: int, action: str, target_kind: str | None, target_id: int | None,
                  before: dict | None, work: Callable[[], object],
                  after: Callable[[object], dict | None],
                  target: Callable[[object], object] | None = None):
    """`work()` (a service, which commits at its end) and its audit row in one transaction,
    for writes whose before the caller read and whose after it derives (`after(result)`).
    For a creation, `target(result)` is the new row, whose table and id the row names."""
    with holding_commits():
        result = work()
    if target is not None:
        row = target(result)
        target_kind, target_id = row.__tablename__, row.id
    record(actor_id, action, target_kind, target_id, before, after(result))
    db.session.commit()
    return result


def audited(actor_id: int, action: str, model, target_id: int, fields: tuple[str, ...],
            work: Callable[[], object]):
    """`work()` (a service call on the `model` row `target_id`) and its audit row, in one
    transaction; returns what the service returned."""
    # Plain columns, not the ORM row: the service must load (and lock) a fresh one itself.
    current = db.session.execute(sa.select(*(getattr(model, name) for name in fields))
                                 .where(model.id == target_id)).first()
    before = snapshot(current, fields) if current is not None else None
    return audited_write(actor_id, action, model.__tablename__, target_id, before, work,
                         lambda result: snapshot(result, fields))
