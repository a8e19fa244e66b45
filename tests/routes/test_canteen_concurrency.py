"""The canteen under real concurrency: simultaneous HTTP requests against a real threaded
server. No overbooking (the last seat is taken once), one booking per diner, one outcome for
a cancel racing a check-in, and points never below zero with `flask points verify` clean.
Written for PostgreSQL (row locks); they pass on SQLite too, whose transactions take the
write lock when they begin."""
from __future__ import annotations

from collections import Counter

import pytest
import requests
import sqlalchemy as sa

from app.extensions import db
from app.models import Household, Redemption, User
from app.services import auth as auth_service
from tests.fixtures.canteen import DAY, PICKUP, bookings_of, make_meal, meal_row
from tests.fixtures.points import balance, count, give, make_reward
from tests.helpers import bearer, in_app, run_together, serving

N = 50


@pytest.fixture
def server(app):
    with serving(app) as url:
        yield url


def outcome(response: requests.Response) -> tuple[int, str | None]:
    return response.status_code, (response.json().get("code")
                                  if response.status_code >= 400 else None)


def residents(app, n: int) -> list[dict]:
    """n verified residents of 示范社区 (one household each), with their headers."""
    def work():
        households = db.session.scalars(sa.select(Household.id).order_by(Household.id)
                                        .limit(n)).all()
        users = [User(openid=f"diner-{i}", nickname=f"居民{i}",
                      household_id=households[i % len(households)]) for i in range(n)]
        db.session.add_all(users)
        db.session.flush()
        tokens = [auth_service._issue_token(u) for u in users]
        db.session.commit()
        return tokens
    return [bearer(token) for token in in_app(app, work)]


def assert_points_clean(app) -> None:
    from app.models import LedgerEntry
    from app.services.points import ledger as points
    assert in_app(app, points.verify) == []
    result = app.test_cli_runner().invoke(args=["points", "verify"])
    assert result.exit_code == 0, result.output
    lowest = in_app(app, lambda: db.session.scalar(sa.select(sa.func.min(
        LedgerEntry.balance_after))))
    assert lowest is None or lowest >= 0


def test_fifty_residents_ten_seats_left_exactly_ten_bookings(app, client, clock, canteen,
                                                             server, people):
    meal = make_meal(app, canteen, capacity=12)
    for who in ("demo-resident", "demo-resident-2"):  # two seats already taken
        assert client.post("/api/v1/bookings", headers=people[who], json={
            "meal_id": meal, "quantity": 1, "pay_with": "counter"}).status_code == 201
    crowd = residents(app, N)

    def work(i):
        return outcome(requests.post(f"{server}/api/v1/bookings", timeout=60,
                                     headers={**crowd[i], "Idempotency-Key": f"rush-{i}"},
                                     json={"meal_id": meal, "quantity": 1,
                                           "pay_with": "counter"}))
    results = Counter(run_together(N, work))
    assert results == {(201, None): 10, (409, "meal_full"): 40}, results
    row = meal_row(app, meal)
    assert (row.booked_count, row.seats_left) == (12, 0)
    assert len([b for b in bookings_of(app, meal) if b.state.value == "booked"]) == 12
    listed = client.get(f"/api/v1/canteens/{canteen}/meals?date={DAY}",
                        headers=people["demo-resident"]).get_json()
    assert listed[0]["seats_left"] == 0


def test_the_same_diner_booking_twice_at_once_is_one_booking(app, clock, lunch, server,
                                                             people):

    def work(i):
        return outcome(requests.post(f"{server}/api/v1/bookings", timeout=60,
                                     headers={**people["demo-resident"],
                                              "Idempotency-Key": f"twice-{i}"},
                                     json={"meal_id": lunch, "quantity": 2,
                                           "pay_with": "counter"}))
    results = Counter(run_together(10, work))
    assert results == {(201, None): 1, (409, "already_booked"): 9}, results
    assert meal_row(app, lunch).booked_count == 2 and len(bookings_of(app, lunch)) == 1


def test_a_cancel_racing_a_check_in_has_one_outcome(app, clock, lunch, server, people):
    who = ("demo-resident", "demo-resident-2", "demo-resident-3", "demo-party-member")
    booked = [requests.post(f"{server}/api/v1/bookings", headers=people[w], timeout=60,
                            json={"meal_id": lunch, "quantity": 1, "pay_with": "counter"}).json()
              for w in who]
    clock.move_to(PICKUP)

    def work(i):
        target = booked[i // 2]
        if i % 2:
            response = requests.post(f"{server}/api/v1/bookings/check-in", timeout=60,
                                     headers=people["demo-canteen"],
                                     json={"pickup_code": target["pickup_code"]})
        else:
            response = requests.post(f"{server}/api/v1/bookings/{target['id']}/cancel",
                                     timeout=60, headers=people["demo-canteen"],
                                     json={"reason": "临时停餐"})
        return i, outcome(response)
    results = dict(run_together(2 * len(booked), work))
    rows = {b.id: b for b in bookings_of(app, lunch)}
    for n, target in enumerate(booked):
        cancel, check = results[2 * n], results[2 * n + 1]
        assert sorted([cancel[0], check[0]]) == [200, 409], (cancel, check)
        state = rows[target["id"]].state.value
        assert state == ("cancelled" if cancel[0] == 200 else "checked_in")
    cancelled = sum(1 for b in rows.values() if b.state.value == "cancelled")
    assert meal_row(app, lunch).booked_count == len(booked) - cancelled


def test_points_bookings_racing_redemptions_never_overdraw(app, client, clock, world, canteen,
                                                           server, people):
    from app.models import MealKind
    uid = world["users"]["demo-resident"]
    give(app, uid, 50)
    reward = make_reward(app, world["community"], cost=20, stock=100)
    meals = [make_meal(app, canteen, day=DAY.replace(day=DAY.day + d), kind=kind)
             for d in range(3) for kind in (MealKind.LUNCH, MealKind.DINNER)][:5]
    headers = people["demo-resident"]

    def work(i):
        if i % 2:
            response = requests.post(f"{server}/api/v1/rewards/{reward}/redeem", timeout=60,
                                     headers={**headers, "Idempotency-Key": f"r-{i}"},
                                     json={"quantity": 1})
        else:
            response = requests.post(f"{server}/api/v1/bookings", timeout=60,
                                     headers={**headers, "Idempotency-Key": f"b-{i}"},
                                     json={"meal_id": meals[i // 2], "quantity": 2,
                                           "pay_with": "points"})
        return outcome(response)
    results = Counter(run_together(10, work))
    assert results[(201, None)] == 2 and results[(409, "insufficient_points")] == 8, results
    assert balance(app, uid) == 10
    made = [b for m in meals for b in bookings_of(app, m)]
    assert len(made) + count(app, Redemption) == 2
    assert sum(b.points_spent for b in made) == 20 * len(made)
    assert_points_clean(app)
