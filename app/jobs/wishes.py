"""Wish jobs: the claim timer (reminder, then release), the 30-day expiry of unclaimed
wishes, fulfilled wishes left unconfirmed sent to the secretary's queue, and the
work-digest source (wishes a grid worker posted for a household, fulfilled and waiting for
the grid worker to check and confirm).

Thin wrappers: the rules are in app.services.wishes.expiry. None of them completes a wish
or awards points: only a person confirms.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.extensions import db
from app.jobs.digest import WorkItem
from app.models import Wish, WishKeys, WishStatus
from app.services.wishes import expiry


def run_claims(dry_run: bool = False, now: datetime | None = None) -> dict:
    return expiry.sweep_claims(now, dry_run)


def run_expiry(dry_run: bool = False, now: datetime | None = None) -> dict:
    return expiry.expire_published(now)


def run_unconfirmed(dry_run: bool = False, now: datetime | None = None) -> dict:
    return expiry.flag_unconfirmed(now)


def open_work(user_ids: list[int]) -> dict[int, list[WorkItem]]:
    """The work-digest source: fulfilled wishes these grid workers posted for a household,
    to confirm (overdue once they have waited WISH_CONFIRM_DAYS), oldest first."""
    work: dict[int, list[WorkItem]] = {}
    for poster, title, unconfirmed_at in db.session.execute(
            sa.select(Wish.poster_id, Wish.title, Wish.unconfirmed_at)
            .where(WishKeys.match(WishKeys.poster_id.in_(user_ids)), Wish.on_behalf.is_(True),
                   Wish.status == WishStatus.FULFILLED).order_by(Wish.fulfilled_at)):
        work.setdefault(poster, []).append(WorkItem(f"确认心愿：{title}"[:20],
                                                    unconfirmed_at is not None))
    return work
