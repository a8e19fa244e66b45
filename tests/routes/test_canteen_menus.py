"""Menus over HTTP: canteens, planning, editing, publishing, copying last week, cancelling a
meal (every booking cancelled and refunded, every diner told), diner profiles and flags."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.models import MealKind, MealState
from tests.fixtures.canteen import (
    DAY,
    at,
    bookings_of,
    household_of,
    make_canteen,
    make_meal,
    meal_row,
    messages,
)
from tests.fixtures.points import balance, give

MEAL = {"day": DAY.isoformat(), "kind": "lunch", "dishes": ["番茄炒蛋", "米饭"],
        "capacity": 80, "price_fen": 1200, "cutoff_time": "10:00", "pickup_start": "11:00",
        "pickup_end": "13:00"}


def plan(client, headers, canteen_id, **change):
    return client.post(f"/api/v1/canteens/{canteen_id}/meals", headers=headers,
                       json={**MEAL, **change})


def test_staff_plan_a_draft_residents_see_it_once_published(app, client, people, canteen):
    response = plan(client, people["demo-canteen"], canteen)
    body = response.get_json()
    assert response.status_code == 201, body
    assert body["state"]["code"] == "draft" and body["seats_left"] == 80
    assert body["cutoff_at"].startswith("2026-12-07T02:00:00")  # 10:00 Shanghai in UTC
    url = f"/api/v1/canteens/{canteen}/meals?date={DAY}"
    assert client.get(url, headers=people["demo-resident"]).get_json() == []
    assert client.post("/api/v1/bookings", headers=people["demo-resident"], json={
        "meal_id": body["id"], "quantity": 1, "pay_with": "counter"}).status_code == 404
    response = client.post(f"/api/v1/meals/{body['id']}/publish", headers=people["demo-staff"])
    assert response.status_code == 200 and response.get_json()["state"]["code"] == "published"
    meals = client.get(url, headers=people["demo-resident"]).get_json()
    assert [(m["id"], m["seats_left"], m["price_for_me"]["amount_fen"]) for m in meals] == [
        (body["id"], 80, 1200)]
    again = client.post(f"/api/v1/meals/{body['id']}/publish", headers=people["demo-staff"])
    assert again.status_code == 409 and again.get_json()["code"] == "invalid_transition"


@pytest.mark.parametrize("who", ["demo-resident", "demo-grid-worker", "demo-secretary"])
def test_only_canteen_or_community_staff_plan(app, client, people, canteen, who):
    response = plan(client, people[who], canteen)
    assert response.status_code == 403 and response.get_json()["code"] == "forbidden"


def test_another_communitys_canteen_staff_cannot_touch_our_menu(app, client, people, lunch,
                                                                canteen, far_canteen):
    assert plan(client, far_canteen[1], canteen).status_code == 403
    assert client.put(f"/api/v1/meals/{lunch}", headers=far_canteen[1],
                      json={"capacity": 1}).status_code == 403
    response = client.post(f"/api/v1/meals/{lunch}/cancel", headers=far_canteen[1],
                           json={"reason": "x"})
    assert response.status_code == 403 and meal_row(app, lunch).state is MealState.PUBLISHED


@pytest.mark.parametrize("change, code", [
    ({"day": (DAY - timedelta(days=1)).isoformat()}, "meal_in_past"),
    ({"cutoff_time": "07:59"}, "cutoff_in_past"),
    ({"pickup_end": "10:30"}, "invalid_window"),
    ({"cutoff_time": "11:30"}, "invalid_cutoff"),
    ({"cutoff_date": (DAY + timedelta(days=1)).isoformat()}, "invalid_cutoff"),
    ({"capacity": 0}, "validation_error"),
    ({"price_fen": -1}, "validation_error"),
    ({"dishes": []}, "validation_error"),
    ({"dishes": ["  "]}, "validation_error"),
    ({"kind": "supper"}, "validation_error"),
    ({"cutoff_time": "25:00"}, "validation_error"),
    ({"day": "9999-12-31"}, "validation_error"),
])
def test_bad_meals_are_refused(app, client, people, canteen, change, code):
    response = plan(client, people["demo-canteen"], canteen, **change)
    assert response.status_code == 422 and response.get_json()["code"] == code, response.get_json()


def test_yesterday_evenings_cutoff_for_tomorrows_breakfast(app, client, people, canteen):
    tomorrow = DAY + timedelta(days=1)
    response = plan(client, people["demo-canteen"], canteen, day=tomorrow.isoformat(),
                    kind="breakfast", cutoff_date=DAY.isoformat(), cutoff_time="20:00",
                    pickup_start="06:30", pickup_end="08:30")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["cutoff_at"].startswith("2026-12-07T12:00:00")
    duplicate = plan(client, people["demo-canteen"], canteen, day=tomorrow.isoformat(),
                     kind="breakfast", pickup_start="06:30", pickup_end="08:30",
                     cutoff_time="06:00")
    assert duplicate.status_code == 409 and duplicate.get_json()["code"] == "meal_exists"


def test_editing_keeps_capacity_above_what_is_booked(app, client, people, lunch, book):
    book("demo-resident", lunch, quantity=3)
    response = client.put(f"/api/v1/meals/{lunch}", headers=people["demo-canteen"],
                          json={"capacity": 2})
    assert response.status_code == 422 and response.get_json()["code"] == "capacity_below_booked"
    response = client.put(f"/api/v1/meals/{lunch}", headers=people["demo-canteen"],
                          json={"capacity": 3, "dishes": ["饺子"], "pickup_end": "13:30"})
    body = response.get_json()
    assert response.status_code == 200, body
    assert (body["capacity"], body["seats_left"], body["dishes"]) == (3, 0, ["饺子"])
    assert body["pickup_ends_at"].startswith("2026-12-07T05:30:00")
    response = client.put(f"/api/v1/meals/{lunch}", headers=people["demo-canteen"],
                          json={"day": (DAY + timedelta(days=1)).isoformat()})
    assert response.status_code == 422 and response.get_json()["code"] == "meal_has_bookings"


def test_copy_last_week_as_drafts_skipping_what_is_planned(app, client, clock, people, canteen):
    source_monday = DAY - timedelta(days=7)
    clock.move_to(at(source_monday, 7))
    for offset in range(3):
        make_meal(app, canteen, day=source_monday + timedelta(days=offset),
                  dishes=[f"菜{offset}"])
    make_meal(app, canteen, day=source_monday, kind=MealKind.DINNER, cutoff=(15, 0),
              window=((17, 0), (19, 0)))
    make_meal(app, canteen, day=DAY + timedelta(days=1))  # Tuesday's lunch is planned
    clock.move_to(at(DAY - timedelta(days=3), 9))  # the Friday before
    response = client.post(f"/api/v1/canteens/{canteen}/meals/copy-last-week",
                           headers=people["demo-canteen"], json={})
    body = response.get_json()
    assert response.status_code == 201, body
    assert body["skipped"] == 1
    assert sorted((m["day"], m["kind"]["code"], m["dishes"][0]) for m in body["items"]) == [
        ("2026-12-07", "dinner", "红烧肉"), ("2026-12-07", "lunch", "菜0"),
        ("2026-12-09", "lunch", "菜2")]
    assert {m["state"]["code"] for m in body["items"]} == {"draft"}
    assert body["items"][0]["cutoff_at"][:10] in ("2026-12-07", "2026-12-09")
    bad = client.post(f"/api/v1/canteens/{canteen}/meals/copy-last-week",
                      headers=people["demo-canteen"], json={"week_start": "2026-12-08"})
    assert bad.status_code == 422 and bad.get_json()["code"] == "not_monday"
    assert client.post(f"/api/v1/canteens/{canteen}/meals/copy-last-week",
                       headers=people["demo-resident"], json={}).status_code == 403


def test_cancelling_a_meal_cancels_refunds_and_tells_every_diner(app, client, world, people,
                                                                 lunch, elder, book):
    for openid in ("demo-resident", "demo-resident-2"):
        give(app, world["users"][openid], 50)
    book("demo-resident", lunch, pay_with="points", quantity=2)
    book("demo-resident", lunch, diner_id=elder)
    book("demo-resident-2", lunch, pay_with="points")
    book("demo-party-member", lunch)
    response = client.post(f"/api/v1/meals/{lunch}/cancel", headers=people["demo-canteen"],
                           json={"reason": "停水检修"})
    body = response.get_json()
    assert response.status_code == 200, body
    assert (body["state"]["code"], body["cancel_reason"], body["seats_left"]) == (
        "cancelled", "停水检修", 50)
    assert {b.state.value for b in bookings_of(app, lunch)} == {"cancelled"}
    assert balance(app, world["users"]["demo-resident"]) == 50
    assert balance(app, world["users"]["demo-resident-2"]) == 50
    told = messages(app, "canteen_meal_cancelled")
    people_told = sorted(m.user_id for m in told)
    u = world["users"]
    assert people_told == sorted([u["demo-resident"], u["demo-resident"], u["demo-resident-2"],
                                  u["demo-party-member"]])  # one per booking and person
    assert {m.payload["reason"] for m in told} == {"停水检修"}
    assert "已退回 20 积分。" in {m.payload["refund"] for m in told}
    again = client.post(f"/api/v1/meals/{lunch}/cancel", headers=people["demo-canteen"],
                        json={"reason": "再取消"})
    assert again.status_code == 409 and again.get_json()["errors"] == {"status": "cancelled"}
    assert client.post(f"/api/v1/meals/{lunch}/cancel", headers=people["demo-canteen"],
                       json={}).get_json()["code"] == "validation_error"


def test_canteens_of_my_community(app, client, world, people, canteen, far_canteen):
    body = client.get("/api/v1/canteens", headers=people["demo-resident"]).get_json()
    assert [c["id"] for c in body["items"]] == [canteen] and body["next_cursor"] is None
    assert body["items"][0]["delivery"] is True
    response = client.post("/api/v1/canteens", headers=people["demo-staff"], json={
        "community_id": world["community"], "name": "幸福餐厅", "address": "民和路 1 号"})
    assert response.status_code == 201 and response.get_json()["pickup"] is True
    assert client.post("/api/v1/canteens", headers=people["demo-canteen"], json={
        "community_id": world["community"], "name": "x", "address": "y"}).status_code == 403


# --- diner profiles ---------------------------------------------------------------------

def test_staff_keep_diners_and_flags_residents_see_no_evidence(app, client, world, people,
                                                               clock):
    household = household_of(app, world["users"]["demo-resident"])
    response = client.post("/api/v1/diners", headers=people["demo-staff"], json={
        "household_id": household, "name": "王奶奶", "birth_year": 1950})
    diner = response.get_json()
    assert response.status_code == 201, diner
    assert diner["tier"]["key"] == "age_70"
    response = client.put(f"/api/v1/diners/{diner['id']}/flags/tekun",
                          headers=people["demo-staff"],
                          json={"evidence": "特困供养证 2026-018", "expires_on": "2027-06-30"})
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["tier"]["key"] == "tekun" and body["flags"][0]["evidence"] == "特困供养证 2026-018"
    seen = client.get("/api/v1/diners", headers=people["demo-resident"]).get_json()
    assert [d["name"] for d in seen] == ["王奶奶"]
    assert "evidence" not in seen[0]["flags"][0] and seen[0]["flags"][0]["active"] is True
    worker = client.get(f"/api/v1/diners?household_id={household}",
                        headers=people["demo-grid-worker"]).get_json()
    assert [d["id"] for d in worker] == [diner["id"]]
    assert client.get(f"/api/v1/diners?household_id={household}",
                      headers=people["demo-resident-3"]).status_code == 404
    for who in ("demo-resident", "demo-canteen"):
        response = client.put(f"/api/v1/diners/{diner['id']}/flags/dibao", headers=people[who],
                              json={"evidence": "自己说的"})
        assert response.status_code in (403, 404)
    unknown = client.put(f"/api/v1/diners/{diner['id']}/flags/rich",
                         headers=people["demo-staff"], json={"evidence": "x"})
    assert unknown.status_code == 422 and unknown.get_json()["code"] == "unknown_category"
    gone = client.delete(f"/api/v1/diners/{diner['id']}/flags/tekun", headers=people["demo-staff"])
    assert gone.status_code == 200 and gone.get_json()["flags"] == []
    assert client.delete(f"/api/v1/diners/{diner['id']}/flags/tekun",
                         headers=people["demo-staff"]).get_json()["code"] == "flag_not_found"


def test_a_diner_linked_to_a_user_must_live_there(app, client, world, people, clock):
    household = household_of(app, world["users"]["demo-resident"])
    response = client.post("/api/v1/diners", headers=people["demo-staff"], json={
        "household_id": household, "name": "李师傅", "user_id": world["users"]["demo-resident-2"]})
    assert response.status_code == 422 and response.get_json()["code"] == "not_household_member"
    first = client.post("/api/v1/diners", headers=people["demo-staff"], json={
        "household_id": household, "name": "张阿姨", "user_id": world["users"]["demo-resident"]})
    assert first.status_code == 201
    again = client.post("/api/v1/diners", headers=people["demo-staff"], json={
        "household_id": household, "name": "张阿姨", "user_id": world["users"]["demo-resident"]})
    assert again.status_code == 409 and again.get_json()["code"] == "diner_exists"


def test_a_canteen_without_delivery_is_listed_as_such(app, client, world, people, clock):
    make_canteen(app, world["community"], name="只堂食", delivery=False)
    items = client.get("/api/v1/canteens", headers=people["demo-resident"]).get_json()["items"]
    assert [(c["name"], c["delivery"]) for c in items] == [("只堂食", False)]
