"""Incident jobs: the SLA ladder (every minute), auto-close, and the work-digest source.

Thin wrappers: the rules are in app.services.incidents (`sla.sweep`, `flow.auto_close`).
"""
from __future__ import annotations

from datetime import datetime

from app.jobs.digest import WorkItem
from app.models.base import utcnow
from app.services.incidents import flow, queries, sla


def run_sla(dry_run: bool = False, now: datetime | None = None) -> dict:
    return sla.sweep(now)


def run_auto_close(dry_run: bool = False, now: datetime | None = None) -> dict:
    return flow.auto_close(now)


def open_work(user_ids: list[int]) -> dict[int, list[WorkItem]]:
    """The work-digest source: each grid worker's open incidents, soonest deadline first."""
    now = utcnow()
    work: dict[int, list[WorkItem]] = {}
    for assignee, description, resolve_by in queries.open_by_assignee(user_ids):
        work.setdefault(assignee, []).append(WorkItem(description[:20], resolve_by < now))
    return work
