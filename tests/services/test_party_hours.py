"""Service-hour rules below the routes: hours to a tenth, half up; a log credited twice
(a retry, a race past the state checks) is still one ledger entry, named after the log."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import sqlalchemy as sa

from app.extensions import db
from app.models import LedgerEntry, LogSource, PointsRule, ServiceLog
from app.services.party import hours

START = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)


def test_hours_are_tenths_rounded_half_up():
    assert hours.hours_between(START, START + timedelta(minutes=123)) == Decimal("2.1")
    assert hours.hours_between(START, START + timedelta(minutes=122)) == Decimal("2.0")
    assert hours.hours_between(START, START + timedelta(minutes=2)) == Decimal("0.0")


def test_a_log_credited_twice_is_one_ledger_entry(app, ctx, world):
    member = world["users"]["demo-party-member"]
    log = ServiceLog(member_id=member, community_id=world["community"],
                     source=LogSource.MANUAL, check_in_at=START,
                     check_out_at=START + timedelta(hours=3), hours=Decimal("3.0"))
    db.session.add(log)
    db.session.flush()
    hours.verify_log(log, None)
    hours.verify_log(log, None)
    db.session.commit()
    entries = db.session.execute(sa.select(LedgerEntry.idempotency_key, LedgerEntry.amount)
                                 .where(LedgerEntry.rule == PointsRule.VOLUNTEER_HOUR)).all()
    assert entries == [(f"volunteer_hour:{log.id}", 15)]
