"""Canteen jobs: close meals at their booking cutoff and tell the kitchen the count; remind
diners before the pickup window; after the window, finish the meal, mark no-shows after the
grace and suspend self-booking after repeated ones.

Thin wrappers: the rules are in app.services.canteen.schedule and .noshows.
"""
from __future__ import annotations

from datetime import datetime

from app.models.base import utcnow
from app.services.canteen import noshows, schedule


def run_close(dry_run: bool = False, now: datetime | None = None) -> dict:
    return schedule.close_due(now)


def run_reminders(dry_run: bool = False, now: datetime | None = None) -> dict:
    return schedule.remind_due(now)


def run_after_pickup(dry_run: bool = False, now: datetime | None = None) -> dict:
    now = now or utcnow()
    return {**schedule.finish_due(now), **noshows.mark_due(now)}
