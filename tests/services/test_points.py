"""The ledger's rules: every earning and spending rule, idempotent awards, no overdraft,
append-only entries, `verify`, and the monthly ranking."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
import time_machine

from app.errors import Conflict
from app.extensions import db
from app.models import LedgerEntry, PointsAccount, PointsRule, User
from app.services.points import ledger as points
from app.services.points import rankings

R = PointsRule


def user(openid: str) -> User:
    return db.session.scalar(sa.select(User).where(User.openid == openid))


def fresh_user(openid: str = "p-user") -> User:
    row = User(openid=openid, nickname="张三")
    db.session.add(row)
    db.session.commit()
    return row


def entries(user_id: int) -> list[LedgerEntry]:
    return list(db.session.scalars(sa.select(LedgerEntry).where(
        LedgerEntry.account_id == user_id).order_by(LedgerEntry.id)))


def balance(user_id: int) -> int:
    return db.session.get(PointsAccount, user_id).balance


@pytest.mark.parametrize("rule, units, amount, ref", [
    (R.INCIDENT_CONFIRMED, 1, 10, "incident:7"),
    (R.WISH_FULFILLED, 1, 20, "wish:7"),
    (R.VOLUNTEER_HOUR, 3, 15, "volunteer:7"),
    (R.VOLUNTEER_HOUR, Decimal("2.5"), 13, "volunteer:7"),  # 12.5 rounds half up
])
def test_every_earning_rule_awards_its_amount(ctx, rule, units, amount, ref):
    u = fresh_user()
    entry, created = points.award(u, rule, 7, units=units)
    db.session.commit()
    assert created and entry.amount == amount and entry.ref == ref
    assert entry.idempotency_key == f"{rule.value}:7"
    assert entry.balance_after == amount == balance(u.id)
    assert points.describe(entry) == rule.label


def test_confirmed_incident_key_is_named_after_the_incident(ctx):
    u = fresh_user()
    entry, _ = points.award(u.id, R.INCIDENT_CONFIRMED, 123)
    assert entry.idempotency_key == "incident_confirmed:123" and entry.ref == "incident:123"


def test_amounts_come_from_config(app, ctx):
    u = fresh_user()
    app.config["POINTS_RULES"] = {"incident_confirmed": 25, "volunteer_hour": 8}
    try:
        assert points.award(u, R.INCIDENT_CONFIRMED, 1)[0].amount == 25
        assert points.award(u, R.VOLUNTEER_HOUR, 1, units=2)[0].amount == 16
        assert points.award(u, R.WISH_FULFILLED, 1)[0].amount == 20  # not overridden
        app.config["POINTS_RULES"] = {"incident_confirmed": -5}
        with pytest.raises(RuntimeError, match="positive integer"):
            points.award(u, R.INCIDENT_CONFIRMED, 2)
        app.config["POINTS_RULES"] = {"redemption": 5}  # amount given by the caller
        with pytest.raises(RuntimeError):
            points.rule_points(R.REDEMPTION)
    finally:
        app.config["POINTS_RULES"] = {}
        db.session.rollback()


def test_the_same_award_counts_once(ctx):
    u = fresh_user()
    first, created = points.award(u, R.WISH_FULFILLED, 5)
    db.session.commit()
    again, created_again = points.award(u, R.WISH_FULFILLED, 5)
    db.session.commit()
    assert created and not created_again and again.id == first.id
    assert len(entries(u.id)) == 1 and balance(u.id) == 20


def test_a_key_reused_for_another_account_is_a_bug_not_a_silent_skip(ctx):
    a, b = fresh_user("a"), fresh_user("b")
    points.award(a, R.WISH_FULFILLED, 5)
    with pytest.raises(RuntimeError, match="another account"):
        points.award(b, R.WISH_FULFILLED, 5)
    db.session.rollback()


def test_canteen_booking_spends_and_refunds_once(ctx):
    u = fresh_user()
    points.award(u, R.VOLUNTEER_HOUR, 1, units=10)  # 50
    spent = points.spend(u, R.CANTEEN_BOOKING, 9, units=2)  # 2 meals x 10
    assert spent.amount == -20 and spent.balance_after == 30 and spent.ref == "booking:9"
    refund, created = points.refund(u, R.CANTEEN_REFUND, 9, 20)
    again, created_again = points.refund(u, R.CANTEEN_REFUND, 9, 20)
    db.session.commit()
    assert created and not created_again and again.id == refund.id
    assert balance(u.id) == 50 and [e.amount for e in entries(u.id)] == [50, -20, 20]


def test_spending_more_than_the_balance_is_refused_and_writes_nothing(ctx):
    u = fresh_user()
    points.award(u, R.INCIDENT_CONFIRMED, 1)
    db.session.commit()
    with pytest.raises(Conflict) as raised:
        points.spend(u, R.REDEMPTION, 1, 11)
    assert raised.value.code == "insufficient_points" and raised.value.status == 409
    assert raised.value.errors == {"balance": 10, "needed": 11}
    db.session.rollback()
    assert balance(u.id) == 10 and len(entries(u.id)) == 1
    assert points.spend(u, R.REDEMPTION, 2, 10).balance_after == 0  # exactly all is fine


def test_rules_are_used_for_what_they_are(ctx):
    u = fresh_user()
    with pytest.raises(ValueError):
        points.award(u, R.REDEMPTION, 1)
    with pytest.raises(ValueError):
        points.spend(u, R.WISH_FULFILLED, 1, 5)
    with pytest.raises(ValueError):
        points.refund(u, R.CANTEEN_BOOKING, 1, 5)
    with pytest.raises(ValueError):
        points.post(u.id, R.ADJUSTMENT, 0, "zero")


def test_entries_are_append_only(ctx):
    u = fresh_user()
    entry, _ = points.award(u, R.WISH_FULFILLED, 1)
    db.session.commit()
    entry.amount = 1000
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(LedgerEntry, entry.id))
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()


def test_verify_is_clean_and_catches_a_tampered_cache(app, ctx):
    u, v = fresh_user("u"), fresh_user("v")
    points.award(u, R.WISH_FULFILLED, 1)
    points.award(v, R.WISH_FULFILLED, 2)
    points.spend(v, R.REDEMPTION, 3, 5)
    points.lock_account(fresh_user("w").id)  # an account without entries
    db.session.commit()
    assert points.verify() == []
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["points", "verify"])
    assert ok.exit_code == 0 and "verified" in ok.output
    db.session.execute(sa.update(PointsAccount).where(PointsAccount.user_id == v.id)
                       .values(balance=99))
    db.session.commit()
    assert [p["user_id"] for p in points.verify()] == [v.id]
    bad = runner.invoke(args=["points", "verify"])
    assert bad.exit_code == 1 and "1 account(s)" in bad.output


def test_monthly_ranking_counts_earnings_masks_opt_outs_and_shares_ties(world, ctx):
    ids = world["users"]
    # Fixed months, away from today's: the assertions do not depend on the date.
    with time_machine.travel(datetime(2025, 2, 28, 15, 59, tzinfo=timezone.utc)):
        # 23:59 on 28 February in Shanghai: the month before
        points.award(ids["demo-resident-2"], R.WISH_FULFILLED, 900)
    with time_machine.travel(datetime(2025, 3, 10, 4, tzinfo=timezone.utc)):
        points.award(ids["demo-resident"], R.WISH_FULFILLED, 901)  # +20
        points.award(ids["demo-resident-2"], R.INCIDENT_CONFIRMED, 902)  # +10
        points.award(ids["demo-resident-2"], R.INCIDENT_CONFIRMED, 903)  # +10
        points.spend(ids["demo-resident-2"], R.REDEMPTION, 904, 15)  # spending is no earning
        points.award(ids["demo-resident-3"], R.WISH_FULFILLED, 905)  # other compound
        points.set_ranking_public(db.session.get(User, ids["demo-resident-2"]), False)
    with time_machine.travel(datetime(2025, 3, 31, 16, 0, 1, tzinfo=timezone.utc)):
        points.award(ids["demo-party-member"], R.WISH_FULFILLED, 906)  # April in Shanghai
    viewer = user("demo-resident")
    hq = world["compounds"]["虹桥小区"]
    result = rankings.rankings(viewer, "2025-03", None, None, 10)
    assert result["scope"] == {"kind": "compound", "id": hq, "name": "虹桥小区"}
    assert [(i["rank"], i["name"], i["points"], i["masked"], i["is_me"])
            for i in result["items"]] == [(1, "张阿姨", 20, False, True),
                                          (1, "李**", 20, True, False)]
    whole = rankings.rankings(viewer, "2025-03", None, world["community"], 10)
    assert [i["points"] for i in whole["items"]] == [20, 20, 20]
    assert [i["rank"] for i in whole["items"]] == [1, 1, 1]
    february = rankings.rankings(viewer, "2025-02", hq, None, 10)
    assert [(i["name"], i["points"]) for i in february["items"]] == [("李**", 20)]
