"""work-digest: each morning, every grid worker gets one message about their open work.

Features register a work source: `register_source(fn)` where `fn(user_ids)` returns
`{user_id: [WorkItem, ...]}` for the open work of those grid workers. A grid worker with
nothing open gets no message.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

import sqlalchemy as sa

from app.extensions import db
from app.models import Role, RoleGrant
from app.models.base import utcnow
from app.services.notifications import notify
from app.services.templates import SHANGHAI


@dataclass(frozen=True)
class WorkItem:
    title: str
    overdue: bool


SOURCES: list[Callable[[list[int]], dict[int, list[WorkItem]]]] = []


def register_source(source: Callable[[list[int]], dict[int, list[WorkItem]]]) -> None:
    if source not in SOURCES:
        SOURCES.append(source)


def run(dry_run: bool = False, now: datetime | None = None) -> dict:
    now = now or utcnow()
    workers = sorted(set(db.session.scalars(
        sa.select(RoleGrant.user_id).where(RoleGrant.role == Role.GRID_WORKER))))
    work: dict[int, list[WorkItem]] = {uid: [] for uid in workers}
    for source in SOURCES:
        for user_id, items in source(workers).items():
            work.setdefault(user_id, []).extend(items)
    day = now.astimezone(SHANGHAI).date().isoformat()
    queued = 0
    for user_id, items in work.items():
        if not items:
            continue
        overdue = sum(item.overdue for item in items)
        summary = "、".join(item.title for item in items[:3])
        queued += notify(user_id, "work_digest",
                         {"open": len(items), "overdue": overdue, "summary": summary,
                          "at": now.isoformat()},
                         dedupe_key=f"work-digest:{user_id}:{day}")
    return {"grid_workers": len(workers), "queued": queued}
