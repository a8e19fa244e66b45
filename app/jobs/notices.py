"""Notice jobs: Monday 06:00 (Asia/Shanghai) drafts last week's notice for every compound
with a secretary (`notice-drafts`); Thursday reminds secretaries whose notice for last week
is not published (`notice-reminders`). Thin wrappers over app.services.notices."""
from __future__ import annotations

from datetime import datetime

from app.services.notices import drafting, reminders


def run_drafts(dry_run: bool = False, now: datetime | None = None) -> dict:
    return drafting.draft_all(now)


def run_reminders(dry_run: bool = False, now: datetime | None = None) -> dict:
    return reminders.remind_unpublished(now)
