"""Points under real concurrency: simultaneous HTTP requests against a real threaded server.

No overdraft, no oversold stock, no award or refund counted twice, and `flask points
verify` clean afterwards. Written for PostgreSQL (row locks); they pass on SQLite too,
whose transactions take the write lock when they begin.
"""
from __future__ import annotations

from collections import Counter

import pytest
import requests
import sqlalchemy as sa

from app.extensions import db
from app.models import Household, LedgerEntry, Notification, PointsRule, Redemption, User
from app.services import auth as auth_service
from app.services.points import ledger as points
from tests.fixtures.points import balance, count, give, make_reward, stock
from tests.helpers import bearer, in_app, login, run_together, serving

N = 50


@pytest.fixture
def server(app):
    """The app behind a real threaded HTTP server: one thread (and session) per request."""
    with serving(app) as url:
        yield url


def outcome(response: requests.Response) -> tuple[int, str | None]:
    body = response.json()
    return response.status_code, body.get("code") if response.status_code >= 400 else None


def assert_verified(app) -> None:
    assert in_app(app, points.verify) == []
    result = app.test_cli_runner().invoke(args=["points", "verify"])
    assert result.exit_code == 0, result.output
    lowest = in_app(app, lambda: db.session.scalar(sa.select(sa.func.min(
        LedgerEntry.balance_after))))
    assert lowest is None or lowest >= 0


def test_fifty_simultaneous_redemptions_of_a_hundred_points(app, client, world, server):
    uid = world["users"]["demo-resident"]
    give(app, uid, 100 - balance(app, uid))
    headers = bearer(login(client, "demo-resident"))
    reward_id = make_reward(app, world["community"], cost=10, stock=1000)

    def work(i):
        return outcome(requests.post(f"{server}/api/v1/rewards/{reward_id}/redeem", timeout=60,
                                     headers={**headers, "Idempotency-Key": f"burst-{i}"},
                                     json={"quantity": 1}))

    results = Counter(run_together(N, work))
    assert results == {(201, None): 10, (409, "insufficient_points"): 40}, results
    assert balance(app, uid) == 0 and stock(app, reward_id) == 990
    assert count(app, Redemption) == 10
    assert_verified(app)


def test_fifty_people_race_for_five_items(app, client, world, server):
    def residents():
        """N residents of the world's first household, each with a token (logging in 50
        people would meet the login rate limit)."""
        household = db.session.scalar(sa.select(Household.id).order_by(Household.id).limit(1))
        users = [User(openid=f"racer-{i}", nickname=f"选手{i}", household_id=household)
                 for i in range(N)]
        db.session.add_all(users)
        db.session.flush()
        issued = [auth_service._issue_token(u) for u in users]
        db.session.commit()
        return [u.id for u in users], issued
    racers, tokens = in_app(app, residents)
    for uid in racers:
        give(app, uid, 100)
    reward_id = make_reward(app, world["community"], cost=30, stock=5, per_user_limit=1)

    def work(i):
        return outcome(requests.post(f"{server}/api/v1/rewards/{reward_id}/redeem", timeout=60,
                                     headers=bearer(tokens[i]), json={"quantity": 1}))

    results = Counter(run_together(N, work))
    assert results == {(201, None): 5, (409, "out_of_stock"): 45}, results
    assert stock(app, reward_id) == 0
    assert sorted(balance(app, uid) for uid in racers) == [70] * 5 + [100] * 45
    # The losers left nothing behind: no redemption, no "ready" message.
    assert count(app, Redemption, Redemption.reward_id == reward_id) == 5
    assert count(app, Notification, Notification.template_key == "redemption_ready") == 5
    assert_verified(app)


def test_the_same_award_fired_fifty_times_is_one_entry(app, world):
    uid = world["users"]["demo-resident-3"]
    before = balance(app, uid)

    def work(_):
        def award():
            created = points.award(uid, PointsRule.INCIDENT_CONFIRMED, 4242)[1]
            db.session.commit()
            return created
        return in_app(app, award)

    assert Counter(run_together(N, work)) == {True: 1, False: N - 1}
    assert count(app, LedgerEntry, LedgerEntry.idempotency_key == "incident_confirmed:4242") == 1
    assert balance(app, uid) == before + 10
    assert_verified(app)


def test_the_same_adjustment_posted_fifty_times_at_once_counts_once(app, client, world,
                                                                    server):
    uid = world["users"]["demo-resident-3"]
    before = balance(app, uid)
    headers = {**bearer(login(client, "demo-staff")), "Idempotency-Key": "same-adjustment"}

    def work(_):
        return outcome(requests.post(f"{server}/api/v1/points/adjustments", timeout=60,
                                     headers=headers,
                                     json={"user_id": uid, "amount": 7, "reason": "重复提交"}))

    results = Counter(run_together(N, work))
    assert set(results) <= {(201, None), (409, "idempotency_in_progress")}, results
    assert results[(201, None)] >= 1
    assert balance(app, uid) == before + 7
    assert count(app, LedgerEntry, LedgerEntry.rule == PointsRule.ADJUSTMENT) == 1
    assert_verified(app)


def test_simultaneous_cancels_refund_once(app, client, world, server):
    uid = world["users"]["demo-resident"]
    give(app, uid, 100 - balance(app, uid))
    headers = bearer(login(client, "demo-resident"))
    reward_id = make_reward(app, world["community"], cost=40, stock=3)
    redemption = client.post(f"/api/v1/rewards/{reward_id}/redeem", headers=headers,
                             json={"quantity": 2}).get_json()
    assert balance(app, uid) == 20

    def work(_):
        return outcome(requests.post(f"{server}/api/v1/redemptions/{redemption['id']}/cancel",
                                     headers=headers, timeout=60))

    results = Counter(run_together(20, work))
    assert results == {(200, None): 1, (409, "redemption_not_cancellable"): 19}, results
    assert balance(app, uid) == 100 and stock(app, reward_id) == 3
    assert_verified(app)
