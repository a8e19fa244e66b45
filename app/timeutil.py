"""Time as the communities live it: stored in UTC, read in Asia/Shanghai.

Every "today", "this week", "this month" and local cutoff (a meal's booking closes at 09:00
local time, a pickup ends with the local day) is computed here, once. Bounds are half-open
`[start, end)` and timezone-aware (Asia/Shanghai), so they compare directly with the UTC
datetimes the models hold. Weeks are ISO weeks (Monday first; 2026-12-31 is in week 53).
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.models.base import utcnow

SHANGHAI = ZoneInfo("Asia/Shanghai")
Bounds = tuple[datetime, datetime]


def local(moment: datetime | None = None) -> datetime:
    """`moment` (default: now) in Asia/Shanghai."""
    return (moment or utcnow()).astimezone(SHANGHAI)


def today(now: datetime | None = None) -> date:
    """The local date (default: of now)."""
    return local(now).date()


def at_local(day: date, at: time = time.min) -> datetime:
    """A local wall-clock time on a local date, e.g. a booking cutoff at 09:00."""
    return datetime.combine(day, at, SHANGHAI)


def day_bounds(first: date, last: date | None = None) -> Bounds:
    """From the start of local day `first` to the end of local day `last` (default: first)."""
    return at_local(first), at_local((last or first) + timedelta(days=1))


def end_of_day(moment: datetime) -> datetime:
    """The end of the local day `moment` falls in (the next local midnight)."""
    return day_bounds(local(moment).date())[1]


def iso_week(moment: datetime | date | None = None) -> tuple[int, int]:
    """(ISO year, ISO week) of a local date or moment (default: now)."""
    day = moment if isinstance(moment, date) and not isinstance(moment, datetime) \
        else today(moment)
    year, week, _ = day.isocalendar()
    return year, week


def week_bounds(year: int, week: int) -> Bounds:
    """Monday 00:00 to the next Monday 00:00, local time, of an ISO week (ValueError if the
    year has no such week)."""
    monday = date.fromisocalendar(year, week, 1)
    return day_bounds(monday, monday + timedelta(days=6))


def month_bounds(year: int, month: int) -> Bounds:
    """The first local midnight of a month to that of the next."""
    start = at_local(date(year, month, 1))
    return start, at_local(date(year + month // 12, month % 12 + 1, 1))
