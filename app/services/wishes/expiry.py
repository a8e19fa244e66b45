"""The wish timers, each read through `Wish.due_at` and its status (one index):

- `sweep_claims`: a claim reminds its claimer on day WISH_CLAIM_REMIND_DAYS and is released
  at WISH_CLAIM_DAYS, both sides told (the claim job);
- `expire_published`: a published wish with no claim for WISH_EXPIRY_DAYS expires, the
  requester told;
- `flag_unconfirmed`: a fulfilled wish not confirmed in WISH_CONFIRM_DAYS goes to the
  secretary's queue (`unconfirmed_at`), the secretaries told. It is never completed, and
  nobody earns points, by a timer.

They flush and never commit (the job's runner does). Rows are locked `FOR UPDATE SKIP
LOCKED` in batches: a wish someone is acting on right now (a fulfil racing the release) is
left for the next run, which sees what that action made of it.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.extensions import db
from app.models import Wish, WishStatus
from app.models.base import utcnow
from app.services.wishes import flow
from app.services.wishes.timeline import record, remind_claimer, tell_requester, tell_secretaries

BATCH = 500


def _due(status: WishStatus, now: datetime) -> list[Wish]:
    return list(db.session.scalars(
        sa.select(Wish).where(Wish.status == status, Wish.due_at <= now)
        .order_by(Wish.due_at, Wish.id).limit(BATCH)
        .with_for_update(skip_locked=True).execution_options(populate_existing=True)))


def _batches(status: WishStatus, now: datetime):
    """Due rows, a batch at a time; each batch is handled (and moves on) before the next."""
    while True:
        rows = _due(status, now)
        if not rows:
            return
        yield rows
        db.session.flush()


def sweep_claims(now: datetime | None = None) -> dict:
    now = now or utcnow()
    reminded = released = 0
    for rows in _batches(WishStatus.CLAIMED, now):
        for wish in rows:
            if wish.claim_expires_at <= now:
                before = wish.status
                flow.release(wish, None, "认领已超过期限，心愿已重新开放认领", "claim_expired")
                record(wish, None, "claim_expired", before, note="认领超时，自动释放")
                released += 1
            else:
                reminded += remind_claimer(wish)
                wish.due_at = wish.claim_expires_at
    return {"reminded": reminded, "released": released}


def expire_published(now: datetime | None = None) -> dict:
    now = now or utcnow()
    expired = 0
    for rows in _batches(WishStatus.PUBLISHED, now):
        for wish in rows:
            wish.status = WishStatus.EXPIRED
            wish.closed_at, wish.due_at = now, None
            record(wish, None, "expire", WishStatus.PUBLISHED, note="长时间无人认领，已过期")
            tell_requester(wish, "expired", WishStatus.EXPIRED.label,
                           "长时间无人认领，可以修改后重新发布")
            expired += 1
    return {"expired": expired}


def flag_unconfirmed(now: datetime | None = None) -> dict:
    now = now or utcnow()
    flagged = 0
    for rows in _batches(WishStatus.FULFILLED, now):
        for wish in rows:
            wish.unconfirmed_at, wish.due_at = now, None
            record(wish, None, "unconfirmed", WishStatus.FULFILLED,
                   note="完成后超过期限未确认，已转小区书记跟进")
            tell_secretaries(wish, f"unconfirmed-{flow.stamp(wish.fulfilled_at)}", "超时未确认",
                             "请联系居民核实后代为确认或提出异议")
            flagged += 1
    return {"flagged": flagged}
