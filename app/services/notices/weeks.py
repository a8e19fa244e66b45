"""ISO weeks as notices name them: "2026-W53" (2026 has 53 weeks; 2027-W01 starts on
4 January 2027), parsed strictly, with the local bounds from app.timeutil."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from app import timeutil
from app.errors import ValidationFailed
from app.models.base import utcnow
from app.services.notices.sources import Week

PATTERN = re.compile(r"^([0-9]{4})-W([0-9]{2})$")


def parse(text: str) -> tuple[int, int]:
    """(ISO year, week) of "YYYY-Www", or 422 `invalid_week` (2026-W54, 2025-W53, W00)."""
    match = PATTERN.match(text or "")
    if match:
        year, week = int(match.group(1)), int(match.group(2))
        if 2000 <= year <= 2100 and 1 <= week <= weeks_in(year):
            return year, week
    raise ValidationFailed("周次无效，应为 YYYY-Www 且该年有这一周（如 2026-W53）",
                           code="invalid_week", errors={"json": {"week": ["周次无效"]}})


def weeks_in(year: int) -> int:
    return date(year, 12, 28).isocalendar()[1]  # 28 December is always in the last week


def name(year: int, week: int) -> str:
    return f"{year}-W{week:02d}"


def last_week(now: datetime | None = None) -> tuple[int, int]:
    """The ISO week before the local week of `now`."""
    return timeutil.iso_week(timeutil.today(now) - timedelta(days=7))


def bounds(year: int, week: int, now: datetime | None = None) -> Week:
    since, until = timeutil.week_bounds(year, week)
    return Week(year, week, since, until, now or utcnow())


def title(year: int, week: int) -> str:
    """第53周（12月28日—1月3日）"""
    monday = date.fromisocalendar(year, week, 1)
    sunday = monday + timedelta(days=6)
    return (f"{year}年第{week}周（{monday.month}月{monday.day}日—"
            f"{sunday.month}月{sunday.day}日）三个公开")
