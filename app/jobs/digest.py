"""work-digest: each morning, every grid worker gets one message about their open work.

`SOURCES` names every feature's work source: a function `fn(user_ids)` returning
`{user_id: [WorkItem, ...]}` for the open work of those grid workers. A grid worker with
nothing open gets no message; the messages are queued together (`notify_many`).
"""
from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from werkzeug.utils import import_string

from app import timeutil
from app.extensions import db
from app.models import Role, RoleGrant
from app.models.base import utcnow
from app.services.notifications.outbox import notify_many


class WorkItem(NamedTuple):
    title: str
    overdue: bool


# Every feature's source of open work ("module:function"), named here rather than imported:
# the sources' modules import WorkItem from this one.
SOURCES: tuple[str, ...] = (
    "app.jobs.incidents:open_work",
    "app.jobs.wishes:open_work",
    "app.jobs.visits:open_work",
)


def run(dry_run: bool = False, now: datetime | None = None) -> dict:
    now = now or utcnow()
    workers = sorted(set(db.session.scalars(
        sa.select(RoleGrant.user_id).where(RoleGrant.role == Role.GRID_WORKER))))
    work: dict[int, list[WorkItem]] = {uid: [] for uid in workers}
    for source in SOURCES:
        for user_id, items in import_string(source)(workers).items():
            work.setdefault(user_id, []).extend(items)
    day, at = timeutil.today(now).isoformat(), now.isoformat()
    queued = notify_many("work_digest", [
        (user_id, {"open": len(items), "overdue": sum(item.overdue for item in items),
                   "summary": "、".join(item.title for item in items[:3]), "at": at},
         f"work-digest:{user_id}:{day}")
        for user_id, items in work.items() if items])
    return {"grid_workers": len(workers), "queued": queued}
