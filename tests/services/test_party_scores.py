"""党员积分 rules below the routes: grade boundaries, settings that are refused at use
(not silently read), quarters in Shanghai time, and staff items that are append-only."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.models import PartyScoreItem, User
from app.services.demo.seed import seed_demo
from app.services.party import scores

SHANGHAI = timezone(timedelta(hours=8))


def test_grades_at_their_thresholds(app, ctx):
    cases = [("90", "excellent"), ("89.9", "qualified"), ("60", "qualified"),
             ("59.9", "basic"), ("40", "basic"), ("39.9", "unqualified"), ("-5", "unqualified")]
    assert [scores.grade(Decimal(score))["code"] for score, _ in cases] == [g for _, g in cases]
    assert scores.grade(Decimal("95"))["name"] == "优秀"
    parts = scores.Parts(hours=Decimal("20.0"), times=4)
    assert scores.score_of(parts) == Decimal("60.0")  # the yearly bar alone is 合格


@pytest.mark.parametrize("name, value", [
    ("PARTY_SCORE_WEIGHTS", {"hours": 3}),  # an unknown key
    ("PARTY_SCORE_WEIGHTS", {"hour": -1}),
    ("PARTY_SCORE_WEIGHTS", {"wish": "5"}),
    ("PARTY_SCORE_WEIGHTS", {"wish": True}),
    ("PARTY_SCORE_WEIGHTS", [3, 5]),
    ("PARTY_SCORE_GRADES", {"excellent": 50}),  # below qualified's 60
])
def test_bad_settings_are_refused_naming_the_setting(app, ctx, monkeypatch, name, value):
    monkeypatch.setitem(app.config, name, value)
    with pytest.raises(RuntimeError, match=name):
        scores.weights() if name == "PARTY_SCORE_WEIGHTS" else scores.thresholds()


def test_settings_override_only_the_keys_given(app, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "PARTY_SCORE_WEIGHTS", {"wish": 2.5})
    assert scores.weights() == {"hour": Decimal("3"), "wish": Decimal("2.5")}


def test_quarters_are_shanghai_calendar_quarters():
    start, end = scores.quarter_bounds(2026, 4)
    assert (start, end) == (datetime(2026, 10, 1, tzinfo=SHANGHAI),
                            datetime(2027, 1, 1, tzinfo=SHANGHAI))
    assert scores.quarter_bounds(2026, 1)[1] == datetime(2026, 4, 1, tzinfo=SHANGHAI)


def test_a_score_item_is_never_changed_or_deleted(app, ctx, world):
    item = PartyScoreItem(member_id=world["users"]["demo-party-member"],
                          community_id=world["community"], year=2026, points=5, reason="x",
                          entered_by_id=world["users"]["demo-staff"])
    db.session.add(item)
    db.session.commit()
    item.points = 50
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    db.session.delete(item)
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()


@time_machine.travel(datetime(2026, 7, 1, 4, 0, tzinfo=timezone.utc), tick=False)
def test_the_demo_party_member_has_a_score_with_two_staff_items(ctx):
    seed_demo()
    member = db.session.scalar(sa.select(User).where(User.openid == "demo-party-member"))
    mine = scores.mine(member, None, None, 20)
    assert [(i.points, i.reason) for i in mine["items"]["items"]] == [
        (-2, "无故缺席一次支部组织生活"), (8, "牵头组织1号楼楼栋议事会")]
    assert mine["items_points"] == 6 and mine["hours"] == Decimal("12.5")
    assert mine["score"] == Decimal("12.5") * 3 + mine["wishes"] * 5 + 6
    seed_demo()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PartyScoreItem)) == 2
