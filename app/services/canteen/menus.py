"""Canteens and their menus: create, edit, publish and cancel meals, copy last week's menu,
and the menus residents read with the price for them and the seats left.

A meal's cutoff and pickup window are local wall-clock times (`app.timeutil.at_local`),
stored as UTC instants; they may be any local time from now on: a meal for a past day or
with a cutoff already passed is refused. The meal's state machine is `MEAL_TRANSITIONS`
(`access.MEAL_TRANSITIONS`): draft → published → closed (at the cutoff, by the periphery's
job) → finished, or cancelled from any of the first three. Cancelling a meal cancels every
booking, refunds points and tells every diner (`booking.cancel_meal_bookings`).
"""
from __future__ import annotations

import functools
from datetime import date, timedelta
from typing import NamedTuple

import sqlalchemy as sa

from app import timeutil
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    Booking,
    BookingState,
    Canteen,
    Community,
    DinerCategory,
    DinerFlag,
    DinerProfile,
    Meal,
    MealState,
    Role,
    ScopeKind,
    User,
)
from app.models.base import utcnow
from app.services import transitions
from app.services.canteen import access, eligibility
from app.services.canteen import booking as bookings
from app.services.pagination import paginate
from app.services.permissions import Viewer, authorize, has_role_in
from app.services.points import ledger as points

MEAL_TRANSITIONS = access.MEAL_TRANSITIONS
TIMES = ("cutoff_date", "cutoff_time", "pickup_start", "pickup_end")


# --- canteens ---------------------------------------------------------------------------

def create_canteen(actor: User, data: dict) -> Canteen:
    community = db.session.get(Community, data["community_id"])
    if community is None:
        raise NotFound("社区不存在", code="community_not_found")
    authorize(actor, Role.STAFF, community)
    canteen = Canteen(**data)
    db.session.add(canteen)
    db.session.commit()
    return canteen


def list_canteens(user: User, community_id: int | None, cursor: str | None, limit: int) -> dict:
    """Open canteens, of one community (default: my home's; without one, all)."""
    community_id = community_id or points.home_community(user)
    query = sa.select(Canteen).where(Canteen.active.is_(True))
    if community_id is not None:
        query = query.where(Canteen.community_id == community_id)
    return paginate(query, Canteen.id, cursor, limit)


# --- meals ------------------------------------------------------------------------------

def _instants(day: date, values: dict) -> dict:
    """The UTC instants of a meal's local cutoff and pickup window, checked."""
    cutoff_day = values.get("cutoff_date") or day
    if cutoff_day > day:
        raise ValidationFailed("截止日期不能晚于用餐日期", code="invalid_cutoff",
                               errors={"cutoff_date": ["不能晚于用餐日期"]})
    cutoff_at = timeutil.at_local(cutoff_day, values["cutoff_time"])
    starts = timeutil.at_local(day, values["pickup_start"])
    ends = timeutil.at_local(day, values["pickup_end"])
    if ends <= starts:
        raise ValidationFailed("取餐结束时间应晚于开始时间", code="invalid_window",
                               errors={"pickup_end": ["应晚于开始时间"]})
    if cutoff_at > starts:
        raise ValidationFailed("订餐截止时间不能晚于取餐开始时间", code="invalid_cutoff",
                               errors={"cutoff_time": ["不能晚于取餐开始时间"]})
    if cutoff_at <= utcnow():
        raise ValidationFailed("订餐截止时间已过，请选择现在之后的时间", code="cutoff_in_past",
                               errors={"cutoff_time": ["已过"]})
    return {"cutoff_at": cutoff_at, "pickup_starts_at": starts, "pickup_ends_at": ends}


def _local_times(meal: Meal) -> dict:
    cutoff = timeutil.local(meal.cutoff_at)
    return {"cutoff_date": cutoff.date(), "cutoff_time": cutoff.time(),
            "pickup_start": timeutil.local(meal.pickup_starts_at).time(),
            "pickup_end": timeutil.local(meal.pickup_ends_at).time()}


def _check_free(canteen_id: int, day: date, kind, meal_id: int | None = None) -> None:
    taken = db.session.scalar(sa.select(Meal.id).where(
        Meal.canteen_id == canteen_id, Meal.day == day, Meal.kind == kind,
        Meal.state != MealState.CANCELLED, Meal.id != (meal_id or 0)))
    if taken is not None:
        raise Conflict("这一天的这一餐已经有菜单了", code="meal_exists", errors={"meal_id": taken})


def create_meal(actor: User, canteen_id: int, data: dict) -> Meal:
    canteen = access.get_canteen(canteen_id)
    authorize(actor, access.MENU_ROLES, canteen)
    if data["day"] < timeutil.today():
        raise ValidationFailed("不能为过去的日期排菜单", code="meal_in_past",
                               errors={"day": ["不能早于今天"]})
    _check_free(canteen.id, data["day"], data["kind"])
    meal = Meal(canteen_id=canteen.id, community_id=canteen.community_id, day=data["day"],
                kind=data["kind"], dishes=data["dishes"], capacity=data["capacity"],
                price_fen=data["price_fen"], state=MealState.DRAFT, created_by_id=actor.id,
                **_instants(data["day"], data))
    db.session.add(meal)
    db.session.commit()
    return meal


def update_meal(actor: User, meal_id: int, data: dict) -> Meal:
    meal = access.get_meal(actor, meal_id, lock=True)  # orders the edit with bookings
    transitions.check(MEAL_TRANSITIONS, "update", actor, meal, "餐次")
    if meal.state is MealState.PUBLISHED and utcnow() >= meal.cutoff_at:
        raise Conflict("订餐已截止，不能再修改", code="booking_closed")
    if meal.booked_count and ({"day", "kind"} & data.keys()):
        raise ValidationFailed("已有预订，不能更改日期或餐别", code="meal_has_bookings")
    if data.get("capacity", meal.capacity) < meal.booked_count:
        raise ValidationFailed(f"已预订 {meal.booked_count} 份，容量不能少于此数",
                               code="capacity_below_booked",
                               errors={"capacity": [f"不能少于 {meal.booked_count}"]})
    day = data.get("day", meal.day)
    if "day" in data and day < timeutil.today():
        raise ValidationFailed("不能为过去的日期排菜单", code="meal_in_past",
                               errors={"day": ["不能早于今天"]})
    if {"day", "kind"} & data.keys():
        _check_free(meal.canteen_id, day, data.get("kind", meal.kind), meal.id)
    if {"day", *TIMES} & data.keys():
        times = _local_times(meal) | {k: data[k] for k in TIMES if k in data}
        if "day" in data and "cutoff_date" not in data:
            times["cutoff_date"] = day - (meal.day - times["cutoff_date"])  # same offset
        for name, value in _instants(day, times).items():
            setattr(meal, name, value)
    for name in ("day", "kind", "dishes", "capacity", "price_fen"):
        if name in data:
            setattr(meal, name, data[name])
    db.session.commit()
    return meal


def publish(actor: User, meal_id: int) -> Meal:
    meal = access.get_meal(actor, meal_id, lock=True)
    transitions.check(MEAL_TRANSITIONS, "publish", actor, meal, "餐次")
    if utcnow() >= meal.cutoff_at:
        raise Conflict("订餐截止时间已过，不能发布", code="booking_closed")
    meal.state, meal.published_at = MealState.PUBLISHED, utcnow()
    db.session.commit()
    return meal


def cancel(actor: User, meal_id: int, reason: str) -> Meal:
    """Cancel a meal: every booking cancelled and refunded, every diner told."""
    meal = access.get_meal(actor, meal_id)
    transitions.check(MEAL_TRANSITIONS, "cancel", actor, meal, "餐次")
    bookings.cancel_meal_bookings(actor, meal, reason)  # locks accounts, then the meal
    db.session.commit()
    return meal


def copy_last_week(actor: User, canteen_id: int, week_start: date | None) -> dict:
    """Copy the week before `week_start` (a Monday; default next Monday) as drafts, each
    meal and its times seven days later. Meals already planned, or whose cutoff would have
    passed, are skipped."""
    canteen = access.get_canteen(canteen_id)
    authorize(actor, access.MENU_ROLES, canteen)
    today = timeutil.today()
    week_start = week_start or today + timedelta(days=7 - today.weekday())
    if week_start.weekday() != 0:
        raise ValidationFailed("请选择周一作为开始日期", code="not_monday",
                               errors={"week_start": ["应为周一"]})
    source = list(db.session.scalars(sa.select(Meal).where(
        Meal.canteen_id == canteen.id, Meal.state != MealState.CANCELLED,
        Meal.day >= week_start - timedelta(days=7), Meal.day < week_start)
        .order_by(Meal.day, Meal.id)))
    taken = {(m.day, m.kind) for m in db.session.scalars(sa.select(Meal).where(
        Meal.canteen_id == canteen.id, Meal.state != MealState.CANCELLED,
        Meal.day >= week_start, Meal.day < week_start + timedelta(days=7)))}
    now, week, created, skipped = utcnow(), timedelta(days=7), [], 0
    for old in source:
        if (old.day + week, old.kind) in taken or old.cutoff_at + week <= now:
            skipped += 1
            continue
        created.append(Meal(
            canteen_id=canteen.id, community_id=canteen.community_id, day=old.day + week,
            kind=old.kind, dishes=list(old.dishes), capacity=old.capacity,
            price_fen=old.price_fen, cutoff_at=old.cutoff_at + week,
            pickup_starts_at=old.pickup_starts_at + week,
            pickup_ends_at=old.pickup_ends_at + week, state=MealState.DRAFT,
            created_by_id=actor.id))
    db.session.add_all(created)
    db.session.commit()
    return {"items": created, "skipped": skipped}


def week_plan(actor: User, canteen_id: int, monday: date) -> list[Meal]:
    """A canteen's meals of the week from `monday`, drafts and cancelled ones included, by
    day and kind, for the staff who plan its menus (the console's canteen page)."""
    canteen = access.get_canteen(canteen_id)
    authorize(actor, access.MENU_ROLES, canteen)
    meals = list(db.session.scalars(sa.select(Meal).where(
        Meal.canteen_id == canteen.id, Meal.day >= monday, Meal.day < monday + timedelta(days=7))))
    return sorted(meals, key=lambda m: (m.day, KIND_ORDER[m.kind.value], m.id))


# --- what residents read ----------------------------------------------------------------

def list_meals(user: Viewer, canteen_id: int, day: date | None) -> list[tuple]:
    """A canteen's meals of one local day (default today), each as `(row, quote)`: the
    meal's columns with my booking's id (`my_booking_id`) and the price for me; drafts for
    its staff only; breakfast, lunch, dinner. Two queries, whatever the number of meals
    (the canteen with its meals and my bookings, then my diner profile with its flags)."""
    rows = db.session.execute(_menu_query(), {"canteen": canteen_id, "user": user.id,
                                              "day": day or timeutil.today()}).all()
    if not rows:
        raise NotFound("食堂不存在", code="canteen_not_found")
    staff = has_role_in(user, access.MENU_ROLES, {(ScopeKind.COMMUNITY, rows[0].community)})
    meals = [row for row in rows if row.id is not None
             and (staff or row.state is not MealState.DRAFT)]
    me = _diner(user.id) if meals else None
    meals.sort(key=lambda m: (KIND_ORDER[m.kind.value], m.id))
    return [(meal, eligibility.quote(me, meal)) for meal in meals]


KIND_ORDER = {"breakfast": 0, "lunch": 1, "dinner": 2}
MENU_COLUMNS = ("id", "canteen_id", "day", "kind", "dishes", "capacity", "booked_count",
                "price_fen", "cutoff_at", "pickup_starts_at", "pickup_ends_at", "state",
                "cancel_reason")


@functools.cache
def _menu_query() -> sa.Select:
    """The canteen (no row: it does not exist) with its meals of the day, each with the id
    of my booking of it; built once."""
    canteens, meals = Canteen.__table__, Meal.__table__
    bookings, diners = Booking.__table__, DinerProfile.__table__
    mine = (sa.select(bookings.c.id).join(diners, diners.c.id == bookings.c.diner_id)
            .where(bookings.c.meal_id == meals.c.id,
                   diners.c.user_id == sa.bindparam("user", type_=sa.Integer),
                   bookings.c.state != BookingState.CANCELLED)
            .limit(1).scalar_subquery())
    return (sa.select(canteens.c.community_id.label("community"),
                      *(meals.c[name] for name in MENU_COLUMNS), mine.label("my_booking_id"))
            .select_from(canteens.outerjoin(meals, sa.and_(
                meals.c.canteen_id == canteens.c.id,
                meals.c.day == sa.bindparam("day", type_=sa.Date))))
            .where(canteens.c.id == sa.bindparam("canteen", type_=sa.Integer)))


class Diner(NamedTuple):
    """What the price depends on (eligibility.best_tier): birth year and flags."""
    birth_year: int | None
    flags: list


class Flag(NamedTuple):
    kind: DinerCategory
    expires_on: date | None


@functools.cache
def _diner_query() -> sa.Select:
    diners, flags = DinerProfile.__table__, DinerFlag.__table__
    return (sa.select(diners.c.birth_year, flags.c.kind, flags.c.expires_on)
            .select_from(diners.outerjoin(flags, flags.c.diner_id == diners.c.id))
            .where(diners.c.user_id == sa.bindparam("user", type_=sa.Integer)))


def _diner(user_id: int) -> Diner | None:
    """My diner profile with its flags, as plain values (None: I have none)."""
    rows = db.session.execute(_diner_query(), {"user": user_id}).all()
    if not rows:
        return None
    return Diner(rows[0].birth_year,
                 [Flag(r.kind, r.expires_on) for r in rows if r.kind is not None])
