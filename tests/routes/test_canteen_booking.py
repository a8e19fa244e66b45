"""Booking a canteen meal over HTTP: the cutoff a second either side, each tier, flag
expiry, extra portions, points and refunds, 代订, suspension, one booking per diner, and
every bad input answering the envelope with nothing changed."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Booking, LedgerEntry, PointsRule, User
from tests.fixtures.canteen import (
    CUTOFF,
    DAY,
    PRICE,
    bookings_of,
    household_of,
    make_canteen,
    make_diner,
    make_meal,
    meal_row,
    messages,
    suspend,
)
from tests.fixtures.points import balance, give
from tests.helpers import in_app, login_many

SECOND = timedelta(seconds=1)


def test_a_booking_takes_a_seat_and_answers_a_pickup_code_and_qr(app, client, world, people,
                                                                 lunch, book):
    response = book("demo-resident", lunch, quantity=2)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    code = body["pickup_code"]
    assert len(code) == 6 and code.isdigit() and body["qr_payload"] == f"linli:booking:{code}"
    assert body["qr_svg"].startswith("<svg")
    assert body["state"] == {"code": "booked", "name": "已预订"}
    assert body["diner"]["name"] == "张阿姨" and body["proxy"] is False
    assert (body["quantity"], body["unit_price_fen"], body["subsidy_fen"],
            body["amount_fen"]) == (2, PRICE, 0, 2 * PRICE)
    assert body["tier"] == {"key": "standard", "name": "普通"}
    assert meal_row(app, lunch).booked_count == 2
    meals = client.get(f"/api/v1/canteens/{body['meal']['canteen']['id']}/meals?date={DAY}",
                       headers=people["demo-resident"]).get_json()
    assert meals[0]["seats_left"] == 48 and meals[0]["my_booking_id"] == body["id"]


def test_the_cutoff_a_second_before_and_a_second_after(app, clock, lunch, book):
    clock.move_to(CUTOFF - SECOND)
    assert book("demo-resident", lunch).status_code == 201
    clock.move_to(CUTOFF)
    response = book("demo-resident-2", lunch)
    assert response.status_code == 409 and response.get_json()["code"] == "booking_closed"
    assert "10:00" in response.get_json()["message"]
    clock.move_to(CUTOFF + SECOND)
    assert book("demo-party-member", lunch).get_json()["code"] == "booking_closed"
    assert len(bookings_of(app, lunch)) == 1 and meal_row(app, lunch).booked_count == 1


def test_a_draft_meal_is_not_found_and_a_closed_or_cancelled_one_refuses(app, canteen, book):
    from app.models import MealKind, MealState
    draft = make_meal(app, canteen, state=MealState.DRAFT)
    assert book("demo-resident", draft).get_json()["code"] == "meal_not_found"
    closed = make_meal(app, canteen, kind=MealKind.DINNER, state=MealState.CLOSED,
                       cutoff=(16, 0), window=((17, 0), (19, 0)))
    assert book("demo-resident", closed).get_json()["code"] == "booking_closed"
    gone = make_meal(app, canteen, kind=MealKind.BREAKFAST, state=MealState.CANCELLED,
                     cutoff=(9, 0), window=((9, 30), (10, 0)))
    assert book("demo-resident", gone).get_json()["code"] == "meal_cancelled"


# --- tiers ------------------------------------------------------------------------------

@pytest.mark.parametrize("birth_year, flags, tier, subsidy", [
    (None, {}, "standard", 0),
    (1970, {}, "standard", 0),           # 56
    (1966, {}, "age_60", 200),           # 60 this year
    (1956, {}, "age_70", 300),
    (1946, {}, "age_80", 500),
    (1926, {}, "centenarian", 1000),     # 100 this year
    (1970, {"dibao": None}, "dibao", 600),
    (1970, {"tekun": None}, "tekun", 800),
    (1970, {"dibao_edge": None}, "dibao_edge", 400),
    (1970, {"disabled_care": None}, "disabled_care", 600),
    (1970, {"disability": None}, "disability", 300),
    (1940, {"dibao": None}, "dibao", 600),             # the best one applies: 600 > 500
    (1940, {"dibao_edge": None}, "age_80", 500),       # 500 > 400
    (1926, {"tekun": None}, "centenarian", 1000),
])
def test_each_tier_prices_the_diners_own_portion(app, client, world, people, canteen, lunch,
                                                 book, birth_year, flags, tier, subsidy):
    uid = world["users"]["demo-resident"]
    make_diner(app, household_of(app, uid), "张阿姨", birth_year, user_id=uid, flags=flags)
    meals = client.get(f"/api/v1/canteens/{canteen}/meals?date={DAY}",
                       headers=people["demo-resident"]).get_json()
    assert meals[0]["price_for_me"]["tier"]["key"] == tier
    assert meals[0]["price_for_me"]["amount_fen"] == PRICE - subsidy
    body = book("demo-resident", lunch).get_json()
    assert (body["tier"]["key"], body["subsidy_fen"], body["amount_fen"]) == \
        (tier, subsidy, PRICE - subsidy)


def test_an_expired_flag_does_not_count_and_one_expiring_today_does(app, world, lunch, book):
    uid = world["users"]["demo-resident"]
    make_diner(app, household_of(app, uid), "张阿姨", 1975, user_id=uid,
               flags={"dibao": DAY - timedelta(days=1), "dibao_edge": DAY})
    body = book("demo-resident", lunch).get_json()
    assert (body["tier"]["key"], body["subsidy_fen"]) == ("dibao_edge", 400)


def test_extra_portions_are_at_the_base_price(app, world, lunch, book):
    uid = world["users"]["demo-resident"]
    make_diner(app, household_of(app, uid), "张阿姨", 1950, user_id=uid, flags={"dibao": None})
    body = book("demo-resident", lunch, quantity=3).get_json()
    assert (body["subsidy_fen"], body["amount_fen"]) == (600, 3 * PRICE - 600)


def test_the_price_is_fixed_at_booking(app, client, world, people, lunch, book):
    first = book("demo-resident", lunch).get_json()
    response = client.put(f"/api/v1/meals/{lunch}", headers=people["demo-staff"],
                          json={"price_fen": 2000})
    assert response.status_code == 200 and response.get_json()["price_fen"] == 2000
    second = book("demo-resident-2", lunch).get_json()
    assert (first["unit_price_fen"], second["unit_price_fen"]) == (PRICE, 2000)
    mine = client.get("/api/v1/bookings", headers=people["demo-resident"]).get_json()
    assert mine["items"][0]["amount_fen"] == PRICE


def test_a_configured_tier_table_replaces_the_defaults(app, world, lunch, book):
    uid = world["users"]["demo-resident"]
    make_diner(app, household_of(app, uid), "张阿姨", 1950, user_id=uid)
    app.config["CANTEEN_TIERS"] = [{"key": "age_75", "name": "75 周岁以上", "min_age": 75,
                                    "subsidy_fen": 700}]
    try:
        body = book("demo-resident", lunch).get_json()
    finally:
        app.config["CANTEEN_TIERS"] = None
    assert (body["tier"], body["subsidy_fen"]) == ({"key": "age_75", "name": "75 周岁以上"}, 700)


# --- points -----------------------------------------------------------------------------

def test_points_pay_in_the_same_transaction_and_a_cancel_refunds_them(app, client, world,
                                                                     people, lunch, book):
    uid = world["users"]["demo-resident"]
    give(app, uid, 100)
    body = book("demo-resident", lunch, quantity=2, pay_with="points").get_json()
    assert body["pay_with"]["code"] == "points" and body["points_spent"] == 20
    assert balance(app, uid) == 80
    response = client.post(f"/api/v1/bookings/{body['id']}/cancel",
                           headers=people["demo-resident"], json={})
    assert response.status_code == 200 and response.get_json()["state"]["code"] == "cancelled"
    assert balance(app, uid) == 100 and meal_row(app, lunch).booked_count == 0
    rules = in_app(app, lambda: [(e.rule, e.amount) for e in db.session.scalars(
        sa.select(LedgerEntry).where(LedgerEntry.ref == f"booking:{body['id']}")
        .order_by(LedgerEntry.id))])
    assert rules == [(PointsRule.CANTEEN_BOOKING, -20), (PointsRule.CANTEEN_REFUND, 20)]
    again = client.post(f"/api/v1/bookings/{body['id']}/cancel",
                        headers=people["demo-resident"], json={})
    assert again.status_code == 409 and again.get_json()["code"] == "invalid_transition"
    assert balance(app, uid) == 100


def test_too_few_points_books_nothing(app, world, lunch, book):
    uid = world["users"]["demo-resident"]
    give(app, uid, 15)
    response = book("demo-resident", lunch, quantity=2, pay_with="points")
    body = response.get_json()
    assert response.status_code == 409 and body["code"] == "insufficient_points"
    assert body["errors"] == {"balance": 15, "needed": 20}
    assert balance(app, uid) == 15 and bookings_of(app, lunch) == []
    assert meal_row(app, lunch).booked_count == 0


def test_the_same_idempotency_key_books_and_charges_once(app, world, lunch, book):
    uid = world["users"]["demo-resident"]
    give(app, uid, 50)
    key = {"Idempotency-Key": "lunch-1"}
    first = book("demo-resident", lunch, pay_with="points", headers=key)
    second = book("demo-resident", lunch, pay_with="points", headers=key)
    assert first.status_code == second.status_code == 201
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert first.get_json()["id"] == second.get_json()["id"]
    assert balance(app, uid) == 40 and len(bookings_of(app, lunch)) == 1


# --- who books for whom -----------------------------------------------------------------

def test_a_relative_and_the_grid_worker_book_for_an_elder_and_the_subsidy_follows_her(
        app, client, world, people, lunch, elder, book):
    give(app, world["users"]["demo-resident"], 30)
    by_relative = book("demo-resident", lunch, pay_with="points", diner_id=elder)
    body = by_relative.get_json()
    assert by_relative.status_code == 201, body
    assert body["diner"] == {"id": elder, "name": "王奶奶"} and body["proxy"] is True
    assert (body["tier"]["key"], body["subsidy_fen"]) == ("age_80", 500)  # hers, not mine
    assert balance(app, world["users"]["demo-resident"]) == 20  # the booker pays the points
    again = book("demo-grid-worker", lunch, diner_id=elder)
    assert again.status_code == 409 and again.get_json()["code"] == "already_booked"
    client.post(f"/api/v1/bookings/{body['id']}/cancel", headers=people["demo-resident"],
                json={})
    by_worker = book("demo-grid-worker", lunch, diner_id=elder)
    assert by_worker.status_code == 201 and by_worker.get_json()["subsidy_fen"] == 500
    # The booker sees it in their list; the relative who cancelled sees theirs.
    mine = client.get("/api/v1/bookings", headers=people["demo-grid-worker"]).get_json()
    assert [b["id"] for b in mine["items"]] == [by_worker.get_json()["id"]]


@pytest.mark.parametrize("who", ["demo-resident-2", "demo-grid-worker-2", "demo-resident-3"])
def test_nobody_else_books_for_an_elder(app, lunch, elder, book, who):
    response = book(who, lunch, diner_id=elder)
    assert response.status_code == 404 and response.get_json()["code"] == "diner_not_found"
    assert bookings_of(app, lunch) == []


def test_only_verified_residents_of_the_community_book(app, client, world, lunch, far_canteen,
                                                      book):
    fresh = login_many(app, client, ["fresh-wechat-user"])[0]
    response = client.post("/api/v1/bookings", headers=fresh,
                           json={"meal_id": lunch, "quantity": 1, "pay_with": "counter"})
    assert response.status_code == 403 and response.get_json()["code"] == "not_resident"
    far_lunch = make_meal(app, far_canteen[0])
    response = book("demo-resident", far_lunch)
    assert response.status_code == 403 and response.get_json()["code"] == "not_community_member"
    assert bookings_of(app, lunch) == [] and bookings_of(app, far_lunch) == []


def test_a_suspended_user_cannot_book_for_themself_but_a_relative_can(app, world, lunch, book):
    from tests.fixtures.canteen import MORNING
    uid = world["users"]["demo-resident"]
    mine = make_diner(app, household_of(app, uid), "张阿姨", 1950, user_id=uid)
    suspend(app, uid, MORNING - timedelta(days=1))
    response = book("demo-resident", lunch)
    body = response.get_json()
    assert response.status_code == 409 and body["code"] == "booking_suspended"
    assert "申诉" in body["message"] and "3 次" in body["message"]
    assert body["errors"]["no_show_count"] == 3
    # Her household's other member books for her (李师傅 is elsewhere: a new member here).
    make_diner(app, household_of(app, uid), "王奶奶", 1940)
    relative_household = household_of(app, uid)

    def move_in():
        db.session.get(User, world["users"]["demo-party-member"]).household_id = relative_household
        db.session.commit()
    in_app(app, move_in)
    response = book("demo-party-member", lunch, diner_id=mine)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["subsidy_fen"] == 300  # 张阿姨's tier: 76 this year


def test_a_lifted_or_ended_suspension_no_longer_refuses(app, world, lunch, book):
    from tests.fixtures.canteen import MORNING
    suspend(app, world["users"]["demo-resident"], MORNING - timedelta(days=15))
    assert book("demo-resident", lunch).status_code == 201


def test_one_booking_per_diner_and_a_cancelled_diner_books_again(app, client, people, lunch,
                                                                 book):
    first = book("demo-resident", lunch).get_json()
    again = book("demo-resident", lunch)
    assert again.status_code == 409 and again.get_json()["code"] == "already_booked"
    assert again.get_json()["errors"] == {"booking_id": first["id"]}
    client.post(f"/api/v1/bookings/{first['id']}/cancel", headers=people["demo-resident"],
                json={})
    second = book("demo-resident", lunch)
    assert second.status_code == 201 and second.get_json()["id"] != first["id"]
    assert meal_row(app, lunch).booked_count == 1


def test_a_full_meal_refuses_and_seats_left_is_never_negative(app, client, people, canteen,
                                                             book):
    small = make_meal(app, canteen, capacity=3)
    assert book("demo-resident", small, quantity=2).status_code == 201
    response = book("demo-resident-2", small, quantity=2)
    assert response.status_code == 409 and response.get_json() == {
        "code": "meal_full", "message": "这一餐已订满", "errors": {"seats_left": 1}}
    assert book("demo-resident-2", small, quantity=1).status_code == 201
    assert book("demo-party-member", small).get_json()["code"] == "meal_full"
    meals = client.get(f"/api/v1/canteens/{canteen}/meals?date={DAY}",
                       headers=people["demo-resident"]).get_json()
    assert meals[0]["seats_left"] == 0 and meals[0]["booked_count"] == 3


# --- bad input --------------------------------------------------------------------------

@pytest.mark.parametrize("change, code", [
    ({"quantity": 0}, "validation_error"),
    ({"quantity": -1}, "validation_error"),
    ({"quantity": 6}, "quantity_over_limit"),
    ({"quantity": 100}, "validation_error"),
    ({"quantity": "2"}, "validation_error"),
    ({"quantity": 1.5}, "validation_error"),
    ({"pay_with": "wechat"}, "validation_error"),
    ({"pay_with": None}, "validation_error"),
    ({"meal_id": "x"}, "validation_error"),
    ({"diner_id": "me"}, "validation_error"),
    ({"delivery": "maybe"}, "validation_error"),
])
def test_bad_booking_input_is_422_and_changes_nothing(app, client, world, people, lunch,
                                                      change, code):
    give(app, world["users"]["demo-resident"], 100)
    body = {"meal_id": lunch, "quantity": 1, "pay_with": "points", **change}
    response = client.post("/api/v1/bookings", headers=people["demo-resident"], json=body)
    found = response.get_json()
    assert response.status_code == 422 and found["code"] == code, found
    assert found["message"] and found["errors"]
    assert bookings_of(app, lunch) == [] and balance(app, world["users"]["demo-resident"]) == 100


def test_an_unknown_meal_is_404(app, world, book, clock):
    response = book("demo-resident", 987654)
    assert response.status_code == 404 and response.get_json()["code"] == "meal_not_found"


def test_delivery_snapshots_the_address_and_a_pickup_only_canteen_refuses_it(app, world, book,
                                                                           clock):
    only_pickup = make_meal(app, make_canteen(app, world["community"], delivery=False))
    response = book("demo-resident", only_pickup, delivery=True)
    assert response.status_code == 422 and response.get_json()["code"] == "delivery_unavailable"
    lunch = make_meal(app, make_canteen(app, world["community"], name="第二食堂"))
    body = book("demo-resident", lunch, delivery=True).get_json()
    assert body["delivery"] is True and body["delivery_address"] == "虹桥小区1号楼1单元101室"


# --- someone else's booking, cancelling -------------------------------------------------

def test_someone_elses_booking_is_not_found(app, client, people, lunch, book, far_canteen):
    booking_id = book("demo-resident", lunch).get_json()["id"]
    strangers = [people["demo-resident-2"], people["demo-grid-worker-2"], far_canteen[1]]
    for headers in strangers:
        response = client.post(f"/api/v1/bookings/{booking_id}/cancel", headers=headers,
                               json={"reason": "不是我的"})
        assert response.status_code == 404 and response.get_json()["code"] == "booking_not_found"
        assert client.get(f"/api/v1/bookings/{booking_id}", headers=headers).status_code == 404
        mine = client.get("/api/v1/bookings", headers=headers).get_json()
        assert booking_id not in [b["id"] for b in mine["items"]]
    assert bookings_of(app, lunch)[0].state.value == "booked"


def test_the_owner_cancels_until_the_cutoff_and_staff_after_it_with_a_reason(
        app, client, clock, people, lunch, book):
    booking_id = book("demo-resident", lunch).get_json()["id"]
    clock.move_to(CUTOFF)
    response = client.post(f"/api/v1/bookings/{booking_id}/cancel",
                           headers=people["demo-resident"], json={})
    assert response.status_code == 409 and response.get_json()["code"] == "booking_closed"
    response = client.post(f"/api/v1/bookings/{booking_id}/cancel",
                           headers=people["demo-canteen"], json={})
    assert response.status_code == 422 and response.get_json()["code"] == "reason_required"
    response = client.post(f"/api/v1/bookings/{booking_id}/cancel",
                           headers=people["demo-canteen"], json={"reason": "食材短缺"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["cancel_reason"] == "食材短缺"
    told = messages(app, "canteen_booking_cancelled")
    assert [m.payload["reason"] for m in told] == ["食材短缺"]
    assert meal_row(app, lunch).booked_count == 0


def test_my_bookings_come_in_keyset_pages_newest_first(app, client, world, people, canteen,
                                                       book):
    from app.models import MealKind
    from tests.fixtures.canteen import DAY as day
    ids = []
    for offset in range(3):
        for kind in (MealKind.BREAKFAST, MealKind.LUNCH):
            meal = make_meal(app, canteen, day=day + timedelta(days=offset), kind=kind)
            ids.append(book("demo-resident", meal).get_json()["id"])
    book("demo-resident-2", make_meal(app, canteen, kind=MealKind.DINNER,
                                      cutoff=(15, 0), window=((17, 0), (19, 0))))
    seen, cursor = [], None
    while True:
        page = client.get("/api/v1/bookings", query_string={"limit": 4, **(
            {"cursor": cursor} if cursor else {})}, headers=people["demo-resident"]).get_json()
        seen += [b["id"] for b in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    bad = client.get("/api/v1/bookings?cursor=zzz", headers=people["demo-resident"])
    assert bad.status_code == 422 and bad.get_json()["code"] == "invalid_cursor"
    assert in_app(app, lambda: db.session.scalar(sa.select(sa.func.count(Booking.id)))) == 7


def test_a_delivery_address_is_for_the_booker_and_the_canteen_staff_only(app, client, people,
                                                                         lunch, book):
    booking_id = book("demo-resident", lunch, delivery=True).get_json()["id"]
    address = "虹桥小区1号楼1单元101室"
    for who, seen in (("demo-resident", address), ("demo-canteen", address),
                      ("demo-staff", None)):
        body = client.get(f"/api/v1/bookings/{booking_id}", headers=people[who]).get_json()
        assert body["delivery"] is True and body["delivery_address"] == seen, who


def test_the_menu_costs_the_same_queries_for_one_meal_or_three(app, client, world, people,
                                                               canteen):
    from app.models import MealKind
    from tests.helpers import counting_queries
    uid = world["users"]["demo-resident"]
    make_diner(app, household_of(app, uid), "张阿姨", 1950, user_id=uid, flags={"dibao": None})
    url = f"/api/v1/canteens/{canteen}/meals?date={DAY}"

    def queries() -> int:
        with counting_queries(app) as statements:
            response = client.get(url, headers=people["demo-resident"])
        assert response.status_code == 200
        return len(statements), len(response.get_json())
    make_meal(app, canteen, kind=MealKind.LUNCH)
    one, n = queries()
    assert n == 1
    for kind in (MealKind.BREAKFAST, MealKind.DINNER):
        make_meal(app, canteen, kind=kind, cutoff=(6, 0) if kind is MealKind.BREAKFAST
                  else (15, 0), window=((6, 30), (8, 30)) if kind is MealKind.BREAKFAST
                  else ((17, 0), (19, 0)))
    three, n = queries()
    assert n == 3 and three == one
    kinds = [m["kind"]["code"] for m in client.get(url, headers=people["demo-resident"]).get_json()]
    assert kinds == ["breakfast", "lunch", "dinner"]


def test_ids_no_column_holds_are_4xx_never_500(app, client, people, lunch):
    huge = 2 ** 63
    answers = [
        client.post("/api/v1/bookings", headers=people["demo-resident"],
                    json={"meal_id": huge, "quantity": 1, "pay_with": "counter"}),
        client.post("/api/v1/bookings", headers=people["demo-resident"],
                    json={"meal_id": lunch, "quantity": 1, "pay_with": "counter",
                          "diner_id": huge}),
        client.post(f"/api/v1/bookings/{huge}/cancel", headers=people["demo-resident"], json={}),
        client.get(f"/api/v1/meals/{huge}/kitchen", headers=people["demo-canteen"]),
        client.get(f"/api/v1/canteens/{huge}/meals", headers=people["demo-resident"]),
        client.put(f"/api/v1/diners/{huge}/flags/dibao", headers=people["demo-staff"],
                   json={"evidence": "x"}),
        client.post("/api/v1/bookings/check-in", headers=people["demo-canteen"],
                    json={"pickup_code": "123456", "canteen_id": huge}),
    ]
    for response in answers:
        assert response.status_code in (404, 422), response.get_json()
        assert response.get_json()["code"] and response.get_json()["message"]
    assert bookings_of(app, lunch) == []


def test_nobody_books_for_or_lists_a_member_who_moved_out(app, client, world, people, lunch,
                                                          book):
    """张阿姨 has a diner profile with her 特困 flag in her household; after she leaves it,
    the household's other member and its grid worker no longer book for her or see her
    flags there."""
    zhang, home = world["users"]["demo-resident"], household_of(
        app, world["users"]["demo-resident"])
    diner = make_diner(app, home, "张阿姨", 1950, user_id=zhang, flags={"tekun": None})

    def move_in():  # 刘党员 is verified in the same household
        db.session.get(User, world["users"]["demo-party-member"]).household_id = home
        db.session.commit()
    in_app(app, move_in)
    listed = client.get("/api/v1/diners", headers=people["demo-party-member"]).get_json()
    assert diner in [item["id"] for item in listed]
    left = client.delete("/api/v1/me/household", headers=people["demo-resident"])
    assert left.status_code == 200, left.get_json()

    for who in ("demo-party-member", "demo-grid-worker"):
        response = book(who, lunch, diner_id=diner, delivery=True)
        assert (response.status_code, response.get_json()["code"]) == (404, "diner_not_found")
    assert bookings_of(app, lunch) == []
    for who, query in (("demo-party-member", {}), ("demo-grid-worker", {"household_id": home})):
        listed = client.get("/api/v1/diners", headers=people[who], query_string=query)
        assert listed.status_code == 200, listed.get_json()
        assert diner not in [item["id"] for item in listed.get_json()], who
