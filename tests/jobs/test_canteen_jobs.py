"""The canteen jobs with frozen time, over the real job runner: meals closed at their
cutoff with the count to each canteen staff member, the pickup reminder an hour before the
window (once per booking, to whoever picks the meal up), meals finished after the window,
no-shows after the grace, and the no-show policy (3 in 30 days suspend self-booking for 14
days, with why and how to appeal; proxy bookings never suspend the booker).

The rows are written by the factories below (the canteen's own tests book over HTTP); the
route tests of the feedback box and the subsidy report import them too."""
from __future__ import annotations

import itertools
import time as _time
from datetime import date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app import timeutil
from app.extensions import db
from app.jobs import JOBS, get_job
from app.jobs import canteen as canteen_jobs
from app.jobs.runner import run_job
from app.models import (
    Booking,
    BookingState,
    Canteen,
    CanteenSuspension,
    DinerProfile,
    Meal,
    MealKind,
    MealState,
    PayWith,
    Role,
    RoleGrant,
    ScopeKind,
    User,
)
from tests.fixtures.wishes import notified
from tests.helpers import in_app, run_together

MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
_codes = itertools.count(314159)


# --- factories (rows written directly, in a fresh app context each) ---------------------

def make_canteen(app, community_id: int, name: str = "幸福食堂") -> int:
    def work():
        canteen = Canteen(community_id=community_id, name=name, address="虹桥路 8 号一楼",
                          opening_hours="7:00-19:00", pickup=True, delivery=True,
                          run_by="社区+爱心企业")
        db.session.add(canteen)
        db.session.commit()
        return canteen.id
    return in_app(app, work)


def make_meal(app, canteen_id: int, day: date, kind: MealKind = MealKind.LUNCH, *,
              cutoff: time = time(9), window: tuple[time, time] = (time(11), time(13)),
              capacity: int = 50, price_fen: int = 1500,
              state: MealState = MealState.PUBLISHED, by: int) -> int:
    def work():
        canteen = db.session.get(Canteen, canteen_id)
        meal = Meal(canteen_id=canteen_id, community_id=canteen.community_id, day=day,
                    kind=kind, dishes=["红烧肉", "清炒时蔬", "米饭"], capacity=capacity,
                    price_fen=price_fen, cutoff_at=timeutil.at_local(day, cutoff),
                    pickup_starts_at=timeutil.at_local(day, window[0]),
                    pickup_ends_at=timeutil.at_local(day, window[1]), state=state,
                    created_by_id=by)
        db.session.add(meal)
        db.session.commit()
        return meal.id
    return in_app(app, work)


def make_diner(app, *, user_id: int | None = None, household_id: int | None = None,
               name: str | None = None, birth_year: int | None = None) -> int:
    """A diner: a user's own profile (their household), or a named elder of a household."""
    def work():
        user = db.session.get(User, user_id) if user_id else None
        diner = DinerProfile(household_id=household_id or user.household_id, user_id=user_id,
                             name=name or user.nickname, birth_year=birth_year)
        db.session.add(diner)
        db.session.commit()
        return diner.id
    return in_app(app, work)


def make_booking(app, meal_id: int, diner_id: int, booker_id: int, *, quantity: int = 1,
                 tier: str = "standard", subsidy_fen: int = 0, delivery: bool = False,
                 state: BookingState = BookingState.BOOKED) -> int:
    def work():
        meal = db.session.get(Meal, meal_id)
        booking = Booking(meal_id=meal.id, canteen_id=meal.canteen_id, day=meal.day,
                          booker_id=booker_id, diner_id=diner_id, quantity=quantity, tier=tier,
                          unit_price_fen=meal.price_fen, subsidy_fen=subsidy_fen,
                          amount_fen=quantity * meal.price_fen - subsidy_fen,
                          pay_with=PayWith.COUNTER, delivery=delivery,
                          delivery_address="虹桥小区1号楼1单元101室" if delivery else None,
                          pickup_code=str(next(_codes)), state=state)
        if state is BookingState.CHECKED_IN:
            booking.checked_in_at = meal.pickup_starts_at + MINUTE
        if state is not BookingState.CANCELLED:
            meal.booked_count += quantity
        db.session.add(booking)
        db.session.commit()
        return booking.id
    return in_app(app, work)


def booking_states(app, *ids: int) -> list[str]:
    return in_app(app, lambda: [db.session.get(Booking, i).state.value for i in ids])


def meal_state(app, meal_id: int) -> str:
    return in_app(app, lambda: db.session.get(Meal, meal_id).state.value)


def run(app, job_id: str, at, dry_run: bool = False) -> dict:
    with time_machine.travel(at, tick=False):
        return in_app(app, lambda: run_job(get_job(job_id), "test", dry_run=dry_run))


def sweep(app, at) -> dict:
    """The close job, then the no-show job, at `at`: the no-shows and suspensions."""
    run(app, "canteen-close", at)
    result = run(app, "canteen-no-shows", at)
    return {"no_shows": result["no_shows"], "suspended": result["suspended"]}


@pytest.fixture
def canteen(app, world) -> int:
    return make_canteen(app, world["community"])


@pytest.fixture
def day() -> date:
    return timeutil.today() + DAY


@pytest.fixture
def second_cook(app, world) -> int:
    """Another canteen staff member of 示范社区 (each gets their own message)."""
    def work():
        user = User(openid="canteen-cook-2", nickname="食堂李")
        user.grants.append(RoleGrant(role=Role.CANTEEN_STAFF, scope_kind=ScopeKind.COMMUNITY,
                                     scope_id=world["community"]))
        db.session.add(user)
        db.session.commit()
        return user.id
    return in_app(app, work)


# --- tests -----------------------------------------------------------------------------

def test_the_canteen_jobs_are_declared():
    assert {"canteen-close", "canteen-reminders", "canteen-no-shows"} <= {j.id for j in JOBS}


def test_meals_close_at_their_cutoff_and_each_cook_gets_the_count_once(app, world, canteen,
                                                                        day, second_cook):
    users = world["users"]
    cook, resident = users["demo-canteen"], users["demo-resident"]
    lunch = make_meal(app, canteen, day, by=cook)
    dinner = make_meal(app, canteen, day, MealKind.DINNER, cutoff=time(15),
                       window=(time(17), time(19)), by=cook)
    draft = make_meal(app, canteen, day, MealKind.BREAKFAST, cutoff=time(6),
                      window=(time(7), time(8)), state=MealState.DRAFT, by=cook)
    me = make_diner(app, user_id=resident)
    neighbour = make_diner(app, user_id=users["demo-resident-2"])
    make_booking(app, lunch, me, resident, quantity=2)
    make_booking(app, lunch, neighbour, users["demo-resident-2"])
    make_booking(app, lunch, make_diner(app, user_id=users["demo-party-member"]),
                 users["demo-party-member"], state=BookingState.CANCELLED)

    cutoff = timeutil.at_local(day, time(9))
    assert run(app, "canteen-close", cutoff - timedelta(seconds=1)) == {"closed": 0, "told": 0}
    assert meal_state(app, lunch) == "published"
    # A dry run says what it would do and changes nothing.
    assert run(app, "canteen-close", cutoff, dry_run=True) == {"closed": 1, "told": 2}
    assert meal_state(app, lunch) == "published" and notified(app, cook, "canteen_meal_closed") == []

    assert run(app, "canteen-close", cutoff) == {"closed": 1, "told": 2}
    assert meal_state(app, lunch) == "closed"
    assert in_app(app, lambda: db.session.get(Meal, lunch).closed_at) == cutoff
    for staff in (cook, second_cook):
        [told] = notified(app, staff, "canteen_meal_closed")
        assert told["meal_id"] == lunch and told["portions"] == 3 and told["bookings"] == 2
        assert told["title"] == f"幸福食堂{day.month}月{day.day}日午餐"
    assert notified(app, resident, "canteen_meal_closed") == []  # the kitchen only
    assert run(app, "canteen-close", cutoff + MINUTE) == {"closed": 0, "told": 0}
    assert meal_state(app, dinner) == "published" and meal_state(app, draft) == "draft"

    assert run(app, "canteen-close", timeutil.at_local(day, time(15))) == {"closed": 1, "told": 2}
    [_, told] = notified(app, cook, "canteen_meal_closed")
    assert told["meal_id"] == dinner and told["portions"] == 0
    assert meal_state(app, draft) == "draft"  # a draft never closes: it was never offered


def test_bookings_racing_the_close_are_all_in_the_cooks_count(app, world, canteen, day,
                                                              volunteers):
    """Twenty residents book while the close job runs: every booking that succeeds is in
    the count the cook is told, every other one is refused as closed, and the meal's
    count agrees (PostgreSQL's row lock on the meal; SQLite's write lock)."""
    cook = world["users"]["demo-canteen"]
    lunch = make_meal(app, canteen, day, by=cook)
    crowd = volunteers(20)
    cutoff = timeutil.at_local(day, time(9))

    def act(i: int):
        if i == 0:
            def close():
                # Let a few bookings in first, so the close lands among the rest.
                deadline = _time.monotonic() + 30
                while _time.monotonic() < deadline and db.session.scalar(sa.select(
                        Meal.booked_count).where(Meal.id == lunch)) < 3:
                    db.session.rollback()
                    _time.sleep(0.005)
                db.session.rollback()
                result = canteen_jobs.run_close(now=cutoff)
                db.session.commit()
                return result
            return in_app(app, close)
        res = app.test_client().post("/api/v1/bookings", headers=crowd[i - 1], json={
            "meal_id": lunch, "quantity": 1, "pay_with": "counter"})
        return res.status_code, res.get_json().get("code")

    # The bookings' clock reads a minute before the cutoff; the job closes at the cutoff.
    with time_machine.travel(cutoff - MINUTE, tick=False):
        outcomes = run_together(21, act)
    assert outcomes[0] == {"closed": 1, "told": 1}
    answers = outcomes[1:]
    booked = sum(1 for status, _ in answers if status == 201)
    assert set(answers) <= {(201, None), (409, "booking_closed")}, answers
    assert booked >= 3
    [told] = notified(app, cook, "canteen_meal_closed")
    assert told["portions"] == told["bookings"] == booked
    assert in_app(app, lambda: db.session.get(Meal, lunch).booked_count) == booked
    assert in_app(app, lambda: db.session.scalar(sa.select(sa.func.count()).select_from(Booking)
                                                 .where(Booking.meal_id == lunch))) == booked


def test_the_pickup_reminder_goes_once_to_whoever_picks_the_meal_up(app, world, canteen, day):
    users = world["users"]
    resident, relative, worker = (users["demo-resident"], users["demo-resident-2"],
                                  users["demo-grid-worker"])
    lunch = make_meal(app, canteen, day, by=users["demo-canteen"])
    own = make_booking(app, lunch, make_diner(app, user_id=resident), resident, delivery=True)
    household = in_app(app, lambda: db.session.get(User, resident).household_id)
    elder = make_diner(app, household_id=household, name="王奶奶", birth_year=1938)
    for_elder = make_booking(app, lunch, elder, worker)
    # 李师傅 books for 刘党员, who has an account of his own: the reminder goes to the diner.
    for_member = make_booking(app, lunch, make_diner(app, user_id=users["demo-party-member"]),
                              relative)
    cancelled = make_booking(app, lunch, make_diner(app, user_id=users["demo-resident-3"]),
                             users["demo-resident-3"], state=BookingState.CANCELLED)

    opens = timeutil.at_local(day, time(11))
    assert run(app, "canteen-reminders", opens - 61 * MINUTE) == {"reminded": 0}
    assert run(app, "canteen-reminders", opens - 59 * MINUTE) == {"reminded": 3}
    [mine] = notified(app, resident, "canteen_pickup_reminder")
    code = in_app(app, lambda: db.session.get(Booking, own).pickup_code)
    assert datetime.fromisoformat(mine.pop("starts_at")) == opens
    assert mine == {"booking_id": own, "whose": "您预订的",
                    "title": f"幸福食堂{day.month}月{day.day}日午餐", "code": code,
                    "how": "送餐上门"}
    [worker_told] = notified(app, worker, "canteen_pickup_reminder")
    assert worker_told["booking_id"] == for_elder and worker_told["whose"] == "您为王奶奶预订的"
    assert worker_told["how"] == "到幸福食堂取餐"
    [member_told] = notified(app, users["demo-party-member"], "canteen_pickup_reminder")
    assert member_told["booking_id"] == for_member and member_told["whose"] == "为您预订的"
    assert notified(app, relative, "canteen_pickup_reminder") == []
    assert notified(app, users["demo-resident-3"], "canteen_pickup_reminder") == []
    assert booking_states(app, cancelled) == ["cancelled"]
    # Every rerun inside the hour finds them reminded already.
    assert run(app, "canteen-reminders", opens - 30 * MINUTE) == {"reminded": 0}
    assert run(app, "canteen-reminders", opens + MINUTE) == {"reminded": 0}
    assert len(notified(app, resident, "canteen_pickup_reminder")) == 1


def test_after_the_window_the_meal_finishes_and_unpicked_bookings_are_no_shows(
        app, world, canteen, day):
    users = world["users"]
    resident, neighbour = users["demo-resident"], users["demo-resident-2"]
    lunch = make_meal(app, canteen, day, by=users["demo-canteen"])
    missed = make_booking(app, lunch, make_diner(app, user_id=resident), resident)
    picked = make_booking(app, lunch, make_diner(app, user_id=neighbour), neighbour,
                          state=BookingState.CHECKED_IN)
    run(app, "canteen-close", timeutil.at_local(day, time(9)))
    ends = timeutil.at_local(day, time(13))
    assert run(app, "canteen-no-shows", ends - MINUTE) == {"finished": 0, "no_shows": 0,
                                                           "suspended": 0}
    assert run(app, "canteen-no-shows", ends) == {"finished": 1, "no_shows": 0, "suspended": 0}
    assert meal_state(app, lunch) == "finished"
    # The grace (30 minutes by default): still booked until it has passed.
    assert run(app, "canteen-no-shows", ends + 29 * MINUTE)["no_shows"] == 0
    assert booking_states(app, missed, picked) == ["booked", "checked_in"]
    assert run(app, "canteen-no-shows", ends + 30 * MINUTE) == {"finished": 0, "no_shows": 1,
                                                                "suspended": 0}
    assert booking_states(app, missed, picked) == ["no_show", "checked_in"]
    [told] = notified(app, resident, "canteen_no_show")
    assert told["booking_id"] == missed and told["status"] == "未取餐"
    assert told["note"] == "30天内3次未取餐将暂停自助订餐14天"
    assert notified(app, neighbour, "canteen_no_show") == []
    assert run(app, "canteen-no-shows", ends + DAY) == {"finished": 0, "no_shows": 0,
                                                        "suspended": 0}


def _missed_meals(app, canteen, first: date, days: list[int], diner: int, booker: int,
                  cook: int) -> list[int]:
    """A lunch on each of first + d days, booked for `diner` by `booker` and never picked up."""
    bookings = []
    for d in days:
        meal = make_meal(app, canteen, first + d * DAY, by=cook)
        bookings.append(make_booking(app, meal, diner, booker))
    return bookings


def test_three_no_shows_in_30_days_suspend_self_booking_for_14_days(app, client, world, canteen,
                                                                   day, auth):
    users = world["users"]
    resident, worker, cook = users["demo-resident"], users["demo-grid-worker"], users["demo-canteen"]
    me = make_diner(app, user_id=resident)
    household = in_app(app, lambda: db.session.get(User, resident).household_id)
    elder = make_diner(app, household_id=household, name="王奶奶")
    _missed_meals(app, canteen, day, [0, 10, 20], me, resident, cook)
    # The grid worker's three proxy bookings for the elder, missed too: never his suspension.
    _missed_meals(app, canteen, day, [1, 2, 3], elder, worker, cook)

    def after(d: int) -> dict:
        return sweep(app, timeutil.at_local(day + d * DAY, time(14)))

    assert after(0) == {"no_shows": 1, "suspended": 0}
    assert after(3) == {"no_shows": 3, "suspended": 0}
    assert after(10) == {"no_shows": 1, "suspended": 0}
    at = timeutil.at_local(day + 20 * DAY, time(14))
    assert sweep(app, at) == {"no_shows": 1, "suspended": 1}
    [suspension] = in_app(app, lambda: [(s.user_id, s.starts_at, s.ends_at, s.no_show_count,
                                         s.reason) for s in db.session.scalars(
        sa.select(CanteenSuspension))])
    assert suspension == (resident, at, at + 14 * DAY, 3, "近30天内3次预订未取餐")
    [message] = notified(app, resident, "canteen_suspended")
    assert message["reason"] == "近30天内3次预订未取餐"
    assert "说明" in message["appeal"] and "代订" in message["appeal"]
    assert datetime.fromisoformat(message["until"]) == at + 14 * DAY
    assert notified(app, worker, "canteen_suspended") == []
    assert sweep(app, at + MINUTE) == {"no_shows": 0, "suspended": 0}

    # Booking for herself is refused for the 14 days, with why; 代订 for the elder of her
    # household still works; on day 15 she books again.
    lunch = make_meal(app, canteen, day + 21 * DAY, by=cook)
    later = make_meal(app, canteen, day + 35 * DAY, by=cook)
    with time_machine.travel(at + HOUR, tick=False):
        headers = auth("demo-resident")
        res = client.post("/api/v1/bookings", headers=headers,
                          json={"meal_id": lunch, "quantity": 1, "pay_with": "counter"})
        assert res.status_code == 409 and res.get_json()["code"] == "booking_suspended"
        assert "代订" in res.get_json()["message"]
        proxy = client.post("/api/v1/bookings", headers=headers, json={
            "meal_id": lunch, "quantity": 1, "pay_with": "counter", "diner_id": elder})
        assert proxy.status_code == 201, proxy.get_json()
    with time_machine.travel(at + 14 * DAY + MINUTE, tick=False):
        res = client.post("/api/v1/bookings", headers=auth("demo-resident"),
                          json={"meal_id": later, "quantity": 1, "pay_with": "counter"})
        assert res.status_code == 201, res.get_json()


def test_no_shows_older_than_the_window_or_already_punished_do_not_count(app, world, canteen,
                                                                         day):
    users = world["users"]
    resident, cook = users["demo-resident"], users["demo-canteen"]
    me = make_diner(app, user_id=resident)
    # Day 0 falls out of the 30 days by day 31: days 31 and 32 make two in the window.
    _missed_meals(app, canteen, day, [0, 31, 32], me, resident, cook)
    for d in (0, 31, 32):
        assert sweep(app, timeutil.at_local(day + d * DAY, time(14))) == {
            "no_shows": 1, "suspended": 0}, d
    # A third inside the window suspends; the three are then spent: a fourth, after the
    # suspension has ended, starts the count again.
    _missed_meals(app, canteen, day, [33, 50], me, resident, cook)
    assert sweep(app, timeutil.at_local(day + 33 * DAY, time(14))) == {
        "no_shows": 1, "suspended": 1}
    assert sweep(app, timeutil.at_local(day + 50 * DAY, time(14))) == {
        "no_shows": 1, "suspended": 0}
    assert in_app(app, lambda: db.session.scalar(
        sa.select(sa.func.count()).select_from(CanteenSuspension))) == 1


def test_the_policy_is_configurable(app, world, canteen, day, monkeypatch):
    users = world["users"]
    resident, cook = users["demo-resident"], users["demo-canteen"]
    for key, value in (("CANTEEN_NO_SHOW_LIMIT", 2), ("CANTEEN_SUSPENSION_DAYS", 7),
                       ("CANTEEN_NO_SHOW_GRACE_MINUTES", 90)):
        monkeypatch.setitem(app.config, key, value)
    me = make_diner(app, user_id=resident)
    _missed_meals(app, canteen, day, [0, 1], me, resident, cook)
    ends = timeutil.at_local(day, time(13))
    assert sweep(app, ends + 89 * MINUTE)["no_shows"] == 0
    assert sweep(app, ends + 90 * MINUTE)["no_shows"] == 1
    at = ends + DAY + 90 * MINUTE
    assert sweep(app, at) == {"no_shows": 1, "suspended": 1}
    ends_at = in_app(app, lambda: db.session.scalar(sa.select(CanteenSuspension.ends_at)))
    assert ends_at == at + 7 * DAY
    assert notified(app, resident, "canteen_no_show")[0]["note"] == \
        "30天内2次未取餐将暂停自助订餐7天"
