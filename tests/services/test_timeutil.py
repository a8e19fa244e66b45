"""Local time in Asia/Shanghai (UTC+8, no daylight saving): day, week and month bounds,
ISO weeks across a year end, and "today" / "local" at the edges of a local day (app/timeutil.py)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from itertools import pairwise

import pytest
import time_machine

from app import timeutil
from app.timeutil import (
    SHANGHAI,
    at_local,
    day_bounds,
    end_of_day,
    iso_week,
    local,
    month_bounds,
    today,
    week_bounds,
)

UTC = timezone.utc
EIGHT_HOURS = timedelta(hours=8)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_local_day_starts_at_16_00_utc_the_day_before():
    start, end = day_bounds(date(2026, 12, 1))
    assert start == utc(2026, 11, 30, 16, 0)
    assert end == utc(2026, 12, 1, 16, 0)
    # Aware and in Shanghai time, so they read as local midnights.
    assert start.utcoffset() == EIGHT_HOURS and end.utcoffset() == EIGHT_HOURS
    assert (start.date(), start.time()) == (date(2026, 12, 1), time(0, 0))
    assert (end.date(), end.time()) == (date(2026, 12, 2), time(0, 0))


def test_day_bounds_span_the_inclusive_days_from_first_to_last():
    start, end = day_bounds(date(2026, 12, 30), date(2027, 1, 2))
    assert start == utc(2026, 12, 29, 16, 0)
    assert end == utc(2027, 1, 2, 16, 0)  # the end of local 2027-01-02, i.e. 01-03 00:00
    assert end - start == timedelta(days=4)
    # The default `last` is `first`: one day.
    assert day_bounds(date(2026, 12, 30), None) == day_bounds(date(2026, 12, 30))


def test_at_local_is_a_wall_clock_time_in_shanghai():
    cutoff = at_local(date(2026, 12, 1), time(9, 0))
    assert cutoff == utc(2026, 12, 1, 1, 0)
    assert cutoff.tzinfo is SHANGHAI
    assert at_local(date(2026, 12, 1)) == utc(2026, 11, 30, 16, 0)  # default: midnight


@pytest.mark.parametrize("moment, expected", [
    # 23:59:59 local on 11-30: the day ends at local 12-01 00:00.
    (utc(2026, 11, 30, 15, 59, 59), utc(2026, 11, 30, 16, 0)),
    # Local midnight itself belongs to the day it starts.
    (utc(2026, 11, 30, 16, 0), utc(2026, 12, 1, 16, 0)),
    # 20:00 UTC on 11-30 is already local 12-01 04:00.
    (utc(2026, 11, 30, 20, 0), utc(2026, 12, 1, 16, 0)),
    # A moment given in another zone is read in Shanghai time too: 15:00 on 11-30 at UTC-5
    # is 20:00 UTC, local 12-01 04:00 (its own date would say the day ends at 11-30 16:00Z).
    (datetime(2026, 11, 30, 15, 0, tzinfo=timezone(timedelta(hours=-5))), utc(2026, 12, 1, 16, 0)),
])
def test_end_of_day_is_the_next_local_midnight(moment, expected):
    assert end_of_day(moment) == expected


@pytest.mark.parametrize("day, expected", [
    (date(2026, 12, 28), (2026, 53)),  # Monday of week 53
    (date(2026, 12, 31), (2026, 53)),
    (date(2027, 1, 1), (2026, 53)),    # still week 53 of 2026
    (date(2027, 1, 3), (2026, 53)),    # the Sunday that ends it
    (date(2027, 1, 4), (2027, 1)),     # Monday: week 1 of 2027
    (date(2025, 12, 29), (2026, 1)),   # 2026's week 1 starts in 2025
])
def test_iso_week_of_a_date(day, expected):
    assert iso_week(day) == expected


def test_iso_week_of_a_moment_is_that_of_its_local_date():
    # Sunday 2027-01-03 16:00 UTC is Monday 2027-01-04 00:00 in Shanghai: week 1, not 53.
    assert iso_week(utc(2027, 1, 3, 16, 0)) == (2027, 1)
    assert iso_week(utc(2027, 1, 3, 15, 59, 59)) == (2026, 53)


def test_week_53_of_2026_runs_monday_to_monday_local():
    start, end = week_bounds(2026, 53)
    assert start == at_local(date(2026, 12, 28)) == utc(2026, 12, 27, 16, 0)
    assert end == at_local(date(2027, 1, 4)) == utc(2027, 1, 3, 16, 0)
    assert start.weekday() == 0 and end.weekday() == 0  # Mondays, read locally
    assert end - start == timedelta(days=7)
    # The week after is week 1 of 2027 and starts where week 53 ends.
    assert week_bounds(2027, 1)[0] == end


def test_a_year_without_week_53_refuses_it():
    assert date(2025, 12, 28).isocalendar()[:2] == (2025, 52)  # 2025's last week is 52
    with pytest.raises(ValueError):
        week_bounds(2025, 53)
    with pytest.raises(ValueError):
        week_bounds(2026, 0)


def test_december_ends_at_the_first_local_midnight_of_the_next_year():
    start, end = month_bounds(2026, 12)
    assert start == at_local(date(2026, 12, 1)) == utc(2026, 11, 30, 16, 0)
    assert end == at_local(date(2027, 1, 1)) == utc(2026, 12, 31, 16, 0)


@pytest.mark.parametrize("year", [2026, 2028])  # 2028 is a leap year
def test_every_month_ends_where_the_next_starts(year):
    months = [month_bounds(year, m) for m in range(1, 13)]
    for (_, end), (start, _) in pairwise(months):
        assert end == start
    assert months[-1][1] == month_bounds(year + 1, 1)[0]
    assert months[1][1] - months[1][0] == timedelta(days=29 if year == 2028 else 28)
    assert [(e - s).days for s, e in months] == [
        31, 29 if year == 2028 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def test_local_converts_a_utc_moment_just_before_local_midnight():
    moment = utc(2026, 12, 31, 15, 59, 59)
    seen = local(moment)
    assert seen == moment  # the same instant ...
    assert seen.tzinfo is SHANGHAI  # ... read in Shanghai
    assert (seen.date(), seen.time()) == (date(2026, 12, 31), time(23, 59, 59))
    after = local(moment + timedelta(seconds=1))
    assert (after.date(), after.time()) == (date(2027, 1, 1), time(0, 0))


def test_today_is_the_local_date_of_now():
    # 16:30 UTC on 12-31 is 00:30 on 01-01 in Shanghai: a new local day and year.
    with time_machine.travel(utc(2026, 12, 31, 16, 30), tick=False):
        assert today() == date(2027, 1, 1)
        assert local().date() == date(2027, 1, 1)
        assert iso_week() == (2026, 53)
    with time_machine.travel(utc(2026, 12, 31, 15, 30), tick=False):
        assert today() == date(2026, 12, 31)
    # An explicit moment wins over the clock.
    with time_machine.travel(utc(2026, 12, 31, 15, 30), tick=False):
        assert today(utc(2027, 1, 4, 0, 0)) == date(2027, 1, 4)


def test_shanghai_has_no_daylight_saving():
    assert timeutil.SHANGHAI.utcoffset(datetime(2026, 7, 1)) == EIGHT_HOURS
    assert timeutil.SHANGHAI.utcoffset(datetime(2026, 1, 1)) == EIGHT_HOURS
