"""Party jobs: logs nobody checked out of, closed at their post's end and flagged for staff
(no points until staff verify them; each staff member of those communities told once a
run); the October / December reminder to members behind the pro-rata pace of the yearly
bar.

Thin wrappers: the rules are in app.services.party.hours and .progress.
"""
from __future__ import annotations

from datetime import datetime

from app.services.party import hours, progress


def run_checkouts(dry_run: bool = False, now: datetime | None = None) -> dict:
    return hours.close_missing(now)


def run_pace(dry_run: bool = False, now: datetime | None = None) -> dict:
    return progress.remind_behind(now)
