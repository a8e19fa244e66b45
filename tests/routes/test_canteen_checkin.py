"""The counter and the kitchen over HTTP: check-in by pickup code (on the meal's day, within
its window, once, by that canteen's staff) and the kitchen sheet (live before the cutoff,
frozen at it; delivery addresses for canteen staff only)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.models import MealKind
from tests.fixtures.canteen import (
    CUTOFF,
    DAY,
    PICKUP,
    at,
    bookings_of,
    household_of,
    make_diner,
    make_meal,
)


def check_in(client, headers, code, **more):
    return client.post("/api/v1/bookings/check-in", headers=headers,
                       json={"pickup_code": code, **more})


def test_a_code_checks_in_once_and_the_second_time_says_when(app, client, clock, people,
                                                            lunch, book):
    code = book("demo-resident", lunch).get_json()["pickup_code"]
    clock.move_to(PICKUP)
    response = check_in(client, people["demo-canteen"], code)
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["state"]["code"] == "checked_in" and body["diner"]["name"] == "张阿姨"
    first = body["checked_in_at"]
    clock.move_to(PICKUP + timedelta(minutes=5))
    again = check_in(client, people["demo-canteen"], f"linli:booking:{code}")
    assert again.status_code == 409 and again.get_json()["code"] == "already_checked_in"
    assert again.get_json()["errors"] == {"checked_in_at": first}
    assert "11:30:00" in again.get_json()["message"]
    # A checked-in booking can no longer be cancelled.
    response = client.post(f"/api/v1/bookings/{body['id']}/cancel",
                           headers=people["demo-canteen"], json={"reason": "误操作"})
    assert response.status_code == 409 and response.get_json()["errors"] == {
        "status": "checked_in"}


@pytest.mark.parametrize("moment, ok", [
    (at(DAY, 10, 59, 59), False), (at(DAY, 11), True), (at(DAY, 12, 59, 59), True),
    (at(DAY, 13), False)])
def test_check_in_only_within_the_pickup_window(app, client, clock, people, lunch, book,
                                                moment, ok):
    code = book("demo-resident", lunch).get_json()["pickup_code"]
    clock.move_to(moment)
    response = check_in(client, people["demo-canteen"], code)
    if ok:
        assert response.status_code == 200, response.get_json()
    else:
        assert response.status_code == 409
        assert response.get_json()["code"] == "outside_pickup_window"
        assert bookings_of(app, lunch)[0].state.value == "booked"


def test_tomorrows_code_is_not_for_today(app, client, clock, people, canteen, book):
    tomorrow = make_meal(app, canteen, day=DAY + timedelta(days=1))
    code = book("demo-resident", tomorrow).get_json()["pickup_code"]
    clock.move_to(PICKUP)
    response = check_in(client, people["demo-canteen"], code)
    assert response.status_code == 409 and response.get_json()["code"] == "not_meal_day"


@pytest.mark.parametrize("code", ["12345", "1234567", "12a456", "１２３４５６", "123456\n",
                                  "linli:redemption:123456", ""])
def test_a_malformed_code_is_422(app, client, clock, people, lunch, code):
    response = check_in(client, people["demo-canteen"], code)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["code"] in ("invalid_pickup_code", "validation_error")
    assert response.get_json()["message"]


def test_an_unknown_code_is_404(app, client, clock, people, lunch, book):
    code = book("demo-resident", lunch).get_json()["pickup_code"]
    clock.move_to(PICKUP)
    other = "000000" if code != "000000" else "111111"
    response = check_in(client, people["demo-canteen"], other)
    assert response.status_code == 404 and response.get_json()["code"] == "booking_not_found"


def test_only_this_canteens_staff_check_in(app, client, clock, people, lunch, book,
                                           far_canteen):
    code = book("demo-resident", lunch).get_json()["pickup_code"]
    clock.move_to(PICKUP)
    response = check_in(client, far_canteen[1], code)  # another community's canteen staff
    assert response.status_code == 404 and response.get_json()["code"] == "booking_not_found"
    for who in ("demo-resident", "demo-staff", "demo-grid-worker"):
        response = check_in(client, people[who], code)
        assert response.status_code == 403 and response.get_json()["code"] == "forbidden"
    assert bookings_of(app, lunch)[0].state.value == "booked"


def test_a_cancelled_bookings_code_does_not_check_in(app, client, clock, people, lunch, book):
    body = book("demo-resident", lunch).get_json()
    client.post(f"/api/v1/bookings/{body['id']}/cancel", headers=people["demo-resident"],
                json={})
    clock.move_to(PICKUP)
    response = check_in(client, people["demo-canteen"], body["pickup_code"])
    assert response.status_code == 409 and response.get_json()["errors"] == {
        "status": "cancelled"}


# --- the kitchen sheet ------------------------------------------------------------------

def test_the_kitchen_sheet_counts_by_dish_tier_and_delivery(app, client, world, people, lunch,
                                                            elder, book):
    uid = world["users"]["demo-resident-2"]
    make_diner(app, household_of(app, uid), "李师傅", 1950, user_id=uid, flags={"dibao": None})
    book("demo-resident", lunch, quantity=2)
    book("demo-resident", lunch, diner_id=elder, delivery=True)
    book("demo-resident-2", lunch, quantity=3)
    cancelled = book("demo-resident-3", lunch).get_json()
    client.post(f"/api/v1/bookings/{cancelled['id']}/cancel",
                headers=people["demo-resident-3"], json={})
    response = client.get(f"/api/v1/meals/{lunch}/kitchen", headers=people["demo-canteen"])
    sheet = response.get_json()
    assert response.status_code == 200, sheet
    assert (sheet["frozen"], sheet["bookings"], sheet["portions"]) == (False, 3, 6)
    assert sheet["dishes"] == [{"name": n, "portions": 6} for n in ("红烧肉", "清炒时蔬", "米饭")]
    assert {t["key"]: (t["bookings"], t["portions"], t["subsidy_fen"])
            for t in sheet["tiers"]} == {"standard": (1, 2, 0), "age_80": (1, 1, 500),
                                         "dibao": (1, 3, 600)}
    assert sheet["pickup"] == {"bookings": 2, "portions": 5}
    assert sheet["delivery"] == {"bookings": 1, "portions": 1}
    assert [(d["diner"], d["address"]) for d in sheet["deliveries"]] == [
        ("王奶奶", "虹桥小区1号楼1单元101室")]
    # Community staff plan menus and see the counts, not the addresses.
    staff = client.get(f"/api/v1/meals/{lunch}/kitchen", headers=people["demo-staff"]).get_json()
    assert staff["portions"] == 6 and "deliveries" not in staff
    for who in ("demo-resident", "demo-grid-worker"):
        response = client.get(f"/api/v1/meals/{lunch}/kitchen", headers=people[who])
        assert response.status_code == 403


def test_the_sheet_is_frozen_at_the_cutoff(app, client, clock, people, lunch, book):
    first = book("demo-resident", lunch, quantity=2).get_json()
    book("demo-resident-2", lunch)
    clock.move_to(CUTOFF - timedelta(seconds=1))
    live = client.get(f"/api/v1/meals/{lunch}/kitchen", headers=people["demo-canteen"]).get_json()
    assert (live["frozen"], live["portions"]) == (False, 3)
    clock.move_to(CUTOFF + timedelta(minutes=20))
    response = client.post(f"/api/v1/bookings/{first['id']}/cancel",
                           headers=people["demo-canteen"], json={"reason": "住院了"})
    assert response.status_code == 200
    frozen = client.get(f"/api/v1/meals/{lunch}/kitchen",
                        headers=people["demo-canteen"]).get_json()
    assert (frozen["frozen"], frozen["portions"], frozen["bookings"]) == (True, 3, 2)
    assert frozen["as_of"] == live["meal"]["cutoff_at"]


def test_another_communitys_canteen_staff_see_no_sheet(app, client, lunch, far_canteen):
    response = client.get(f"/api/v1/meals/{lunch}/kitchen", headers=far_canteen[1])
    assert response.status_code == 403


def test_breakfast_and_lunch_codes_of_one_day_never_collide(app, client, clock, people,
                                                           canteen, book):
    breakfast = make_meal(app, canteen, kind=MealKind.BREAKFAST, cutoff=(9, 0),
                          window=((9, 0), (10, 0)))
    lunch = make_meal(app, canteen)
    codes = {book(who, meal).get_json()["pickup_code"]
             for who in ("demo-resident", "demo-resident-2", "demo-resident-3",
                         "demo-party-member") for meal in (breakfast, lunch)}
    assert len(codes) == 8
