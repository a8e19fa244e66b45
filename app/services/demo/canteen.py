"""Demo 社区食堂: 示范社区's 幸福食堂 with a week of meals (three days back to three ahead,
breakfast, lunch and dinner), diners of every meal-assistance tier, and bookings in every
state.

- Meals: a state that fits the clock when the demo is seeded (finished after the window,
  closed after the cutoff, published before it), one dinner cancelled (厨房设备检修) and
  the lunch the day after the week still a draft.
- Diners: the demo residents' own profiles (张阿姨 70+, 王大姐 60+, 李师傅 and 刘党员 at the
  standard price) and seven elders recorded by staff, one per remaining tier: 王奶奶 (80+,
  张阿姨's household, booked by her), 李奶奶 (百岁), 赵大爷 (特困), 孙阿姨 (低保), 周大爷
  (失能, delivered), 吴阿姨 (低保边缘) and 郑叔 (残疾, with a 低保 flag that has expired),
  booked by their grid worker (代订). Ages are counted from this year, so the tiers hold
  whenever the demo is seeded.
- Bookings: every diner books lunch each day, priced by `eligibility.quote` as a real
  booking is; past ones were checked in, except one no-show and one cancellation by the
  diner; today's and later ones are booked; the cancelled dinner's bookings are cancelled.
  Everyone pays at the counter, so the points history stays as it is.

Added once: nothing is written when the community has a canteen already.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

import sqlalchemy as sa

from app import timeutil
from app.extensions import db
from app.models import (
    Booking,
    BookingState,
    Canteen,
    DinerCategory,
    DinerFlag,
    DinerProfile,
    Household,
    Meal,
    MealKind,
    MealState,
    PayWith,
    User,
)
from app.models.base import utcnow
from app.services import codes
from app.services.canteen.booking import address_of
from app.services.canteen.eligibility import quote

K = MealKind
# kind: dishes, price (fen), cutoff (days before, local time), pickup window, capacity
MENUS = {
    K.BREAKFAST: (["小米粥", "花卷", "煮鸡蛋", "咸菜"], 500, (1, time(20)), (time(7), time(8, 30)), 60),
    K.LUNCH: (["红烧肉", "西红柿炒鸡蛋", "清炒时蔬", "米饭"], 1500, (0, time(9)),
              (time(11), time(13)), 120),
    K.DINNER: (["刀削面", "凉拌黄瓜"], 1000, (0, time(15)), (time(17), time(18, 30)), 80),
}
# name, building index (in the demo's order), unit, room, age this year, flags, booker
ELDERS = [
    ("王奶奶", 0, "1", "101", 88, [], "demo-resident"),
    ("李奶奶", 1, "2", "102", 101, [], "demo-grid-worker"),
    ("赵大爷", 2, "1", "201", 72, [(DinerCategory.TEKUN, "特困供养证 2026-018")], "demo-grid-worker"),
    ("孙阿姨", 3, "2", "102", 58, [(DinerCategory.DIBAO, "低保证 2025-107")], "demo-grid-worker-2"),
    ("周大爷", 4, "1", "301", 66, [(DinerCategory.DISABLED_CARE, "失能等级评估报告（重度）")],
     "demo-grid-worker-2"),
    ("吴阿姨", 1, "1", "401", 55, [(DinerCategory.DIBAO_EDGE, "低保边缘认定 2026-033")],
     "demo-grid-worker"),
    ("郑叔", 5, "2", "202", 50, [(DinerCategory.DISABILITY, "残疾人证 三级"),
                                (DinerCategory.DIBAO, "低保证 2024-066（已到期）")],
     "demo-grid-worker-2"),
]
OWN = [("demo-resident", 74), ("demo-resident-2", 50), ("demo-resident-3", 62),
       ("demo-party-member", 45)]
DAYS = range(-3, 4)


def seed_canteen(org: dict, users: dict[str, User]) -> int:
    """The canteen, its week and its bookings; returns how many meals were added."""
    community = org["community"]
    if db.session.scalar(sa.select(sa.func.count()).select_from(Canteen).where(
            Canteen.community_id == community.id)):
        return 0
    now, today = utcnow(), timeutil.today()
    canteen = Canteen(community_id=community.id, name="幸福食堂", address="虹桥小区南门东侧",
                      opening_hours="早 7:00-8:30 午 11:00-13:00 晚 17:00-18:30",
                      pickup=True, delivery=True, run_by="社区党委+爱心企业（公益为主、微利可持续）")
    db.session.add(canteen)
    db.session.flush()
    cook = users["demo-canteen"]
    meals = {(d, kind): _meal(canteen, today + timedelta(days=d), kind, cook, now)
             for d in DAYS for kind in K}
    cancelled = meals[(2, K.DINNER)]
    cancelled.state, cancelled.cancel_reason = MealState.CANCELLED, "厨房设备检修，暂停供应"
    cancelled.closed_at = now
    draft = _meal(canteen, today + timedelta(days=DAYS[-1] + 1), K.LUNCH, cook, now)
    draft.state, draft.published_at = MealState.DRAFT, None
    diners = _diners(org, users, today)
    db.session.flush()
    for d in DAYS:
        for diner, booker in diners:
            _book(meals[(d, K.LUNCH)], diner, booker, now)
    for diner, booker in diners[:3]:
        _book(meals[(1, K.BREAKFAST)], diner, booker, now)
        _book(cancelled, diner, booker, now)
    _story(meals, diners, users, now)
    db.session.flush()
    return len(meals) + 1


def _meal(canteen: Canteen, day: date, kind: MealKind, cook: User, now: datetime) -> Meal:
    dishes, price, (before, cutoff), (start, end), capacity = MENUS[kind]
    meal = Meal(canteen_id=canteen.id, community_id=canteen.community_id, day=day, kind=kind,
                dishes=dishes, capacity=capacity, booked_count=0, price_fen=price,
                created_by_id=cook.id,
                cutoff_at=timeutil.at_local(day - timedelta(days=before), cutoff),
                pickup_starts_at=timeutil.at_local(day, start),
                pickup_ends_at=timeutil.at_local(day, end), created_at=now - timedelta(days=7),
                published_at=now - timedelta(days=7))
    meal.state = (MealState.FINISHED if now >= meal.pickup_ends_at else
                  MealState.CLOSED if now >= meal.cutoff_at else MealState.PUBLISHED)
    if meal.state is not MealState.PUBLISHED:
        meal.closed_at = meal.cutoff_at
    db.session.add(meal)
    return meal


def _diners(org: dict, users: dict[str, User], today: date) -> list[tuple[DinerProfile, User]]:
    staff = users["demo-staff"]
    diners = []
    for openid, age in OWN:
        user = users[openid]
        diners.append((DinerProfile(household_id=user.household_id, user_id=user.id,
                                    name=user.nickname, birth_year=today.year - age), user))
    for name, building, unit, room, age, flags, booker in ELDERS:
        household = db.session.scalar(sa.select(Household).where(
            Household.building_id == org["buildings"][building].id, Household.unit == unit,
            Household.room == room))
        diner = DinerProfile(household_id=household.id, name=name, birth_year=today.year - age,
                             created_by_id=staff.id)
        for kind, evidence in flags:
            expired = "已到期" in evidence
            diner.flags.append(DinerFlag(
                kind=kind, evidence=evidence, verified_by_id=staff.id,
                expires_on=today - timedelta(days=30) if expired else today + timedelta(days=365)))
        diners.append((diner, users[booker]))
    db.session.add_all(d for d, _ in diners)
    return diners


def _book(meal: Meal, diner: DinerProfile, booker: User, now: datetime,
          quantity: int = 1) -> Booking:
    price = quote(diner, meal, quantity)
    delivery = diner.name == "周大爷"
    booking = codes.insert_with_code(
        Booking, meal_id=meal.id, canteen_id=meal.canteen_id, day=meal.day,
        booker_id=booker.id, diner_id=diner.id, quantity=quantity, tier=price.tier.key,
        unit_price_fen=price.unit_price_fen, subsidy_fen=price.subsidy_fen,
        amount_fen=price.amount_fen, pay_with=PayWith.COUNTER, delivery=delivery,
        delivery_address=address_of(diner.household_id) if delivery else None,
        state=BookingState.BOOKED, created_at=min(now, meal.cutoff_at) - timedelta(hours=2))
    if meal.state is MealState.CANCELLED:
        booking.state, booking.cancelled_at = BookingState.CANCELLED, now
        booking.cancel_reason = meal.cancel_reason
        return booking
    meal.booked_count += quantity
    if meal.state is MealState.FINISHED:
        booking.state = BookingState.CHECKED_IN
        booking.checked_in_at = meal.pickup_starts_at + timedelta(minutes=20)
        booking.checked_in_by_id = meal.created_by_id
    return booking


def _story(meals: dict, diners: list, users: dict[str, User], now: datetime) -> None:
    """One no-show (李师傅, three days ago) and one cancellation by the diner (王大姐, two
    days ago), both past lunches; 李师傅 takes a second portion today."""
    def booking_of(day: int, openid: str) -> Booking:
        meal = meals[(day, K.LUNCH)]
        return db.session.scalar(sa.select(Booking).where(
            Booking.meal_id == meal.id, Booking.booker_id == users[openid].id,
            Booking.diner_id == next(d.id for d, b in diners if d.user_id == users[openid].id)))

    db.session.flush()
    missed = booking_of(-3, "demo-resident-2")
    missed.state, missed.checked_in_at, missed.checked_in_by_id = BookingState.NO_SHOW, None, None
    dropped = booking_of(-2, "demo-resident-3")
    dropped.state, dropped.checked_in_at, dropped.checked_in_by_id = (
        BookingState.CANCELLED, None, None)
    dropped.cancelled_at = dropped.created_at + timedelta(hours=1)
    dropped.cancelled_by_id, dropped.cancel_reason = users["demo-resident-3"].id, "临时有事"
    meals[(-2, K.LUNCH)].booked_count -= dropped.quantity
    extra = booking_of(0, "demo-resident-2")
    meal = meals[(0, K.LUNCH)]
    meal.booked_count += 1
    extra.quantity, extra.amount_fen = 2, quote(extra.diner, meal, 2).amount_fen
