"""The demo's 双报到 and service hours (app/services/demo/party.py): 刘党员 confirmed at
示范社区, his logs adding up to the hours his profile counts, an upcoming sign-up, nothing
added twice and no ledger entries of its own."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.models import (
    LedgerEntry,
    PartyMember,
    PartyRegistration,
    RegistrationStatus,
    ServiceLog,
    ServicePost,
    User,
)
from app.services.demo.seed import seed_demo
from app.services.party import posts, progress, registrations


@time_machine.travel(datetime(2026, 7, 1, 4, 0, tzinfo=timezone.utc), tick=False)
def test_the_demo_party_member_is_registered_with_hours_once(ctx):
    """(Frozen mid-year: the demo's logs are of the last month, so in this year.)"""
    assert seed_demo()["service_posts_added"] == 4
    member = db.session.scalar(sa.select(User).where(User.openid == "demo-party-member"))
    [registration] = db.session.scalars(sa.select(PartyRegistration)).all()
    assert registration.user_id == member.id
    assert registration.status is RegistrationStatus.CONFIRMED
    assert registrations.confirmed_community(member.id) == registration.community_id
    logs = db.session.scalars(sa.select(ServiceLog)).all()
    assert len(logs) == 3 and all(log.verified_at is not None for log in logs)
    total = sum((log.hours for log in logs), Decimal(0))
    assert total == db.session.get(PartyMember, member.id).service_hours == Decimal("12.5")
    assert [p.title for p in posts.upcoming_signups(member.id)] == ["周末政策宣讲"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry).where(
        LedgerEntry.ref.like("volunteer:%"))) == 0
    mine = progress.me(member, None, 20)
    assert (mine["times"], mine["hours"]) == (3, Decimal("12.5"))
    assert seed_demo()["service_posts_added"] == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ServicePost)) == 4
