"""The wish timers, each read through `Wish.due_at` and its status (index `ix_wishes_due`):

- `sweep_claims`: a claim reminds its claimer on day WISH_CLAIM_REMIND_DAYS and is released
  at WISH_CLAIM_DAYS, both sides told (the claim job);
- `expire_published`: a published wish with no claim for WISH_EXPIRY_DAYS expires, the
  requester told;
- `flag_unconfirmed`: a fulfilled wish not confirmed in WISH_CONFIRM_DAYS goes to the
  secretary's queue (`unconfirmed_at`), the secretaries told. It is never completed, and
  nobody earns points, by a timer.

Set-based, a batch at a time: due rows are read as plain rows through the index and locked
`FOR UPDATE SKIP LOCKED`, their states change in one UPDATE per batch, their timeline events
are one INSERT ... SELECT and their messages one `outbox.notify_many` per template, with the
same events, payloads and dedupe keys as the flow writes for one wish. Every row handled
leaves the due set (a new status, or `due_at` moved past now), and the next batch reads on
from the last one's `(due_at, id)` (index `(status, due_at, id)`). A wish someone is acting
on right now (a fulfil racing the release) is locked and left for the next run, which sees
what that action made of it; a wish the job locked first makes that action wait, and it
then finds the new state (409 `invalid_transition`).

They flush and never commit (the job's runner does, in one transaction).
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.extensions import db
from app.models import Building, Compound, Wish, WishStatus
from app.models.base import utcnow
from app.services.notifications.outbox import notify_many
from app.services.wishes import flow
from app.services.wishes.queries import name_of
from app.services.wishes.timeline import (
    among,
    record_many,
    reminder,
    secretaries,
    to_claimer,
    to_requester,
    to_secretaries,
)

S = WishStatus
BATCH = 1000
wishes, buildings, compounds = Wish.__table__, Building.__table__, Compound.__table__
COLUMNS = tuple(wishes.c[name] for name in (
    "id", "title", "requester_id", "poster_id", "claimer_id", "claim_count",
    "claim_expires_at", "fulfilled_at", "compound_id", "due_at"))
EXPIRED_CLAIM_NOTE = "认领已超过期限，心愿已重新开放认领"


def _batches(status: WishStatus, now: datetime, *extra: sa.ColumnElement):
    """Due rows of a status, oldest deadline first, a locked batch at a time. Each batch
    starts after the last one's (due_at, id), so the index is read once over the run (the
    rows a batch moved leave dead index entries behind it, not in front of it)."""
    query = (sa.select(*COLUMNS, *extra).where(wishes.c.status == status,
                                               wishes.c.due_at <= now)
             .order_by(wishes.c.due_at, wishes.c.id).limit(BATCH)
             .with_for_update(skip_locked=True, of=wishes))
    after = query.where(sa.tuple_(wishes.c.due_at, wishes.c.id)
                        > sa.tuple_(sa.bindparam("due_at", type_=wishes.c.due_at.type),
                                    sa.bindparam("id", type_=sa.Integer)))
    rows = db.session.execute(query).all()
    while rows:
        yield rows
        rows = db.session.execute(after, {"due_at": rows[-1].due_at,
                                          "id": rows[-1].id}).all()


def _update(ids: list[int], **values) -> None:
    db.session.execute(sa.update(wishes).where(among(wishes.c.id, ids)).values(**values))


def sweep_claims(now: datetime | None = None) -> dict:
    now = now or utcnow()
    at = now.isoformat()
    reminded = released = 0
    for rows in _batches(S.CLAIMED, now):
        ending = [row for row in rows if row.claim_expires_at <= now]
        due = [row for row in rows if row.claim_expires_at > now]
        if ending:
            _update([row.id for row in ending], **flow.released(now))
            record_many([row.id for row in ending], "claim_expired", S.CLAIMED, S.PUBLISHED,
                        "认领超时，自动释放", now)
            notify_many("wish_update", [
                to_requester(row, f"claim_expired-{row.claim_count}", S.PUBLISHED.label,
                             flow.RELEASED_NOTE, at) for row in ending])
            notify_many("wish_claim_update", [
                to_claimer(row.claimer_id, row, f"claim_expired-{row.claim_count}", "已释放",
                           EXPIRED_CLAIM_NOTE, at) for row in ending])
            released += len(ending)
        if due:  # the reminder, then nothing until the claim runs out
            _update([row.id for row in due], due_at=wishes.c.claim_expires_at)
            reminded += notify_many("wish_claim_reminder", [reminder(row) for row in due])
    return {"reminded": reminded, "released": released}


def expire_published(now: datetime | None = None) -> dict:
    now = now or utcnow()
    at = now.isoformat()
    expired = 0
    for rows in _batches(S.PUBLISHED, now):
        _update([row.id for row in rows], status=S.EXPIRED, closed_at=now, due_at=None)
        record_many([row.id for row in rows], "expire", S.PUBLISHED, S.EXPIRED,
                    "长时间无人认领，已过期", now)
        notify_many("wish_update", [
            to_requester(row, "expired", S.EXPIRED.label, "长时间无人认领，可以修改后重新发布", at)
            for row in rows])
        expired += len(rows)
    return {"expired": expired}


PLACE = (name_of(compounds.c.name, compounds.c.id, wishes.c.compound_id, "compound_name"),
         name_of(buildings.c.name, buildings.c.id, wishes.c.building_id, "building_name"))


def flag_unconfirmed(now: datetime | None = None) -> dict:
    now = now or utcnow()
    at = now.isoformat()
    flagged = 0
    for rows in _batches(S.FULFILLED, now, *PLACE):
        _update([row.id for row in rows], unconfirmed_at=now, due_at=None)
        record_many([row.id for row in rows], "unconfirmed", S.FULFILLED, S.FULFILLED,
                    "完成后超过期限未确认，已转小区书记跟进", now)
        told = secretaries(row.compound_id for row in rows)
        notify_many("wish_attention", [
            message for row in rows for message in to_secretaries(
                row, told.get(row.compound_id, []), row.compound_name + row.building_name,
                f"unconfirmed-{flow.stamp(row.fulfilled_at)}", "超时未确认",
                "请联系居民核实后代为确认或提出异议", at)])
        flagged += len(rows)
    return {"flagged": flagged}
