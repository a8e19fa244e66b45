"""Booking a meal, cancelling a booking, cancelling every booking of a meal; my bookings.

- One server clock decides the cutoff: `utcnow()` read once per request, compared with the
  meal's `cutoff_at` before anything is written and again inside the seat UPDATE itself.
- Seats: one conditional UPDATE (`booked_count + q <= capacity`, still published, cutoff
  not passed): the last seat is taken exactly once, and `seats_left` never goes negative
  (a CHECK backs it). The UPDATE holds the meal's row lock until commit, so bookings of
  one meal are serialised from there: the one-booking-per-diner check after it is exact
  (and the partial unique index `uq_bookings_active_diner` backs it).
- Points are spent in the same transaction (`app.services.points.ledger`), refunded by a
  cancellation (ledger key `canteen_refund:<booking id>`: at most once).
- 代订: a verified member of the diner's household or the grid worker of its grid books
  for the diner; the tier and subsidy follow the diner, the points come from the booker.
  A suspended user (repeated no-shows) may not book for themself; proxy booking still works.

Lock order (deadlock-free): points accounts, then the meal, then bookings.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from app import timeutil
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    Booking,
    BookingState,
    Building,
    Canteen,
    CanteenSuspension,
    Compound,
    DinerProfile,
    Household,
    Meal,
    MealState,
    PayWith,
    PointsRule,
    User,
)
from app.models.base import utcnow
from app.services import codes, transitions
from app.services.canteen import access, eligibility
from app.services.common import get_or_create
from app.services.notifications.outbox import notify_many
from app.services.pagination import paginate
from app.services.points import ledger as points
from app.services.transitions import Rule

B = BookingState


def _owner(user: User, booking: Booking) -> bool:
    return booking.booker_id == user.id or booking.diner.user_id == user.id


BOOKING_TRANSITIONS: dict[str, Rule] = {
    "cancel": Rule((B.BOOKED,), lambda u, b: _owner(u, b) or access.runs_menus(u, b.meal)),
    "check_in": Rule((B.BOOKED,), lambda u, b: access.is_kitchen(u, b.meal)),
}


# --- who eats ---------------------------------------------------------------------------

def own_profile(user: User) -> DinerProfile:
    """The user's own diner profile, created on first booking (flushes)."""
    def init(row: DinerProfile) -> None:
        row.household_id, row.name = user.household_id, user.nickname[:32]
    profile = get_or_create(DinerProfile, user_id=user.id, init=init)
    if profile.household_id != user.household_id:  # moved house since: the person's profile
        profile.household_id = user.household_id
    return profile


def _diner_for(user: User, diner_id: int | None) -> tuple[DinerProfile, bool]:
    """(the diner, whether the user books for themself)."""
    if diner_id is not None:
        diner = access.get_diner(diner_id)
        if diner.user_id != user.id:
            if not access.may_book_for(user, diner):
                raise NotFound("用餐人不存在", code="diner_not_found")
            return diner, False
    access.require_resident(user)  # only verified household members book for themselves
    return own_profile(user), True


def active_suspension(user_id: int, now: datetime) -> CanteenSuspension | None:
    return db.session.scalar(sa.select(CanteenSuspension).where(
        CanteenSuspension.user_id == user_id, CanteenSuspension.lifted_at.is_(None),
        CanteenSuspension.starts_at <= now, CanteenSuspension.ends_at > now)
        .order_by(CanteenSuspension.ends_at.desc()).limit(1))


def _refuse_suspended(suspension: CanteenSuspension) -> Conflict:
    until = timeutil.local(suspension.ends_at)
    return Conflict(
        f"您近期有 {suspension.no_show_count} 次订餐未取餐，自助订餐已暂停至"
        f"{until:%m月%d日 %H:%M}。如有异议，请联系社区工作人员申诉；"
        f"暂停期间家人或网格员仍可为您代订。",
        code="booking_suspended",
        errors={"until": suspension.ends_at.isoformat(),
                "no_show_count": suspension.no_show_count, "reason": suspension.reason})


def address_of(household_id: int) -> str:
    """The delivery address snapshot: compound, building, unit and room (personal data)."""
    row = db.session.execute(sa.select(Compound.name, Building.name, Household.unit,
                                       Household.room)
                             .join(Building, Building.compound_id == Compound.id)
                             .join(Household, Household.building_id == Building.id)
                             .where(Household.id == household_id)).one()
    return f"{row[0]}{row[1]}{row[2]}单元{row[3]}室"


# --- booking ----------------------------------------------------------------------------

def _closed(meal: Meal) -> Conflict:
    if meal.state is MealState.CANCELLED:
        return Conflict("该餐次已取消", code="meal_cancelled")
    cutoff = timeutil.local(meal.cutoff_at)
    return Conflict(f"订餐已于 {cutoff:%m月%d日 %H:%M} 截止", code="booking_closed",
                    errors={"cutoff_at": meal.cutoff_at.isoformat()})


def _active_booking(meal_id: int, diner_id: int) -> int | None:
    return db.session.scalar(sa.select(Booking.id).where(
        Booking.meal_id == meal_id, Booking.diner_id == diner_id, Booking.state != B.CANCELLED))


def _refuse_double(meal_id: int, diner_id: int) -> None:
    existing = _active_booking(meal_id, diner_id)
    if existing is not None:
        raise Conflict("该用餐人已预订这一餐", code="already_booked",
                       errors={"booking_id": existing})


def book(user: User, data: dict) -> Booking:
    """Book a meal for myself or (代订) for a diner; one transaction."""
    now = utcnow()  # the one clock this request's cutoff checks read
    quantity, pay_with = data["quantity"], PayWith(data["pay_with"])
    limit = current_app.config["CANTEEN_MAX_QUANTITY"]
    if quantity > limit:
        raise ValidationFailed(f"每次最多预订 {limit} 份", code="quantity_over_limit",
                               errors={"quantity": [f"不能超过 {limit}"]})
    meal = access.get_meal(user, data["meal_id"])
    if meal.state is not MealState.PUBLISHED or now >= meal.cutoff_at:
        raise _closed(meal)
    diner, self_booking = _diner_for(user, data.get("diner_id"))
    if access.community_of_household(diner.household_id) != meal.community_id:
        raise Forbidden("只能预订本社区食堂的餐", code="not_community_member")
    if self_booking:
        suspension = active_suspension(user.id, now)
        if suspension is not None:
            raise _refuse_suspended(suspension)
    canteen = db.session.get(Canteen, meal.canteen_id)
    delivery = bool(data.get("delivery"))
    if delivery and not canteen.delivery:
        raise ValidationFailed("该食堂不提供送餐", code="delivery_unavailable")
    if not delivery and not canteen.pickup:
        raise ValidationFailed("该食堂只提供送餐，请选择送餐", code="pickup_unavailable")
    _refuse_double(meal.id, diner.id)  # cheap refusal before any lock
    price = eligibility.quote(diner, meal, quantity)
    cost = points.amount_for(PointsRule.CANTEEN_BOOKING, quantity) \
        if pay_with is PayWith.POINTS else 0
    if cost:
        account = points.lock_account(user.id)  # lock order: account first
        if account.balance < cost:
            raise points.insufficient(account.balance, cost)
    taken = db.session.execute(
        sa.update(Meal).where(Meal.id == meal.id, Meal.state == MealState.PUBLISHED,
                              Meal.cutoff_at > now,
                              Meal.booked_count + quantity <= Meal.capacity)
        .values(booked_count=Meal.booked_count + quantity)
        .execution_options(synchronize_session=False)).rowcount
    if taken != 1:
        db.session.refresh(meal)
        if meal.state is not MealState.PUBLISHED or now >= meal.cutoff_at:
            raise _closed(meal)
        raise Conflict("这一餐已订满", code="meal_full", errors={"seats_left": meal.seats_left})
    _refuse_double(meal.id, diner.id)  # exact now: this meal's bookings queue on its row
    booking = codes.insert_with_code(
        Booking, meal_id=meal.id, canteen_id=meal.canteen_id, day=meal.day,
        booker_id=user.id, diner_id=diner.id, quantity=quantity, tier=price.tier.key,
        unit_price_fen=price.unit_price_fen, subsidy_fen=price.subsidy_fen,
        amount_fen=price.amount_fen, pay_with=pay_with, points_spent=cost, delivery=delivery,
        delivery_address=address_of(diner.household_id) if delivery else None,
        state=B.BOOKED, created_at=now)
    if cost:
        points.spend(user.id, PointsRule.CANTEEN_BOOKING, booking.id, cost,
                     note=f"{canteen.name} {meal.day:%m月%d日}{meal.kind.label} ×{quantity}")
    db.session.commit()
    booking.show_address, booking.qr_svg = True, qr_svg(booking.qr_payload)
    return booking


# --- cancelling -------------------------------------------------------------------------

def get_booking(user: User, booking_id: int) -> Booking:
    booking = db.session.scalar(sa.select(Booking).options(
        selectinload(Booking.meal), selectinload(Booking.diner)).where(Booking.id == booking_id))
    if booking is None or not access.sees_booking(user, booking):
        raise NotFound("订单不存在", code="booking_not_found")
    # The delivery address is personal data: the booker, the diner and the canteen staff.
    booking.show_address = _owner(user, booking) or access.is_kitchen(user, booking.meal)
    return booking


def _release(meal_id: int, quantity: int) -> None:
    db.session.execute(sa.update(Meal).where(Meal.id == meal_id)
                       .values(booked_count=Meal.booked_count - quantity)
                       .execution_options(synchronize_session=False))


def cancel(user: User, booking_id: int, reason: str | None) -> Booking:
    """The booker or diner until the cutoff (points back); the canteen's staff any time,
    with a reason (the diner is told)."""
    now = utcnow()
    booking = get_booking(user, booking_id)
    transitions.check(BOOKING_TRANSITIONS, "cancel", user, booking, "订单")
    meal = booking.meal
    if not (_owner(user, booking) and now < meal.cutoff_at):
        if not access.runs_menus(user, meal):
            raise _closed(meal)
        if not reason:
            raise ValidationFailed("工作人员取消订单须填写原因", code="reason_required",
                                   errors={"reason": ["必填"]})
    if booking.points_spent:
        points.lock_account(booking.booker_id)
    access.get_meal(user, meal.id, lock=True)  # lock order: account, meal, booking
    done = db.session.execute(
        sa.update(Booking).where(Booking.id == booking.id, Booking.state == B.BOOKED)
        .values(state=B.CANCELLED, cancelled_at=now, cancelled_by_id=user.id,
                cancel_reason=reason).execution_options(synchronize_session=False)).rowcount
    db.session.refresh(booking)
    if done != 1:  # checked in (or cancelled) since we read it
        transitions.check(BOOKING_TRANSITIONS, "cancel", user, booking, "订单")
    _release(meal.id, booking.quantity)
    if booking.points_spent:
        points.refund(booking.booker_id, PointsRule.CANTEEN_REFUND, booking.id,
                      booking.points_spent, note="取消订餐")
    if not _owner(user, booking):
        _tell("canteen_booking_cancelled", meal, [booking], reason or "", "booking")
    db.session.commit()
    return booking


def cancel_meal_bookings(actor: User, meal: Meal, reason: str) -> int:
    """Cancel a meal with every open booking: refunds, one message per person. Flushes.

    Locks the accounts that paid with points first (in id order), then the meal. A points
    booking committed between those two steps needs its account for the refund after the
    meal's lock: the rare deadlock it could meet is PostgreSQL's to break (503, retry)."""
    payers = db.session.scalars(sa.select(Booking.booker_id).where(
        Booking.meal_id == meal.id, Booking.state == B.BOOKED, Booking.points_spent > 0)
        .distinct().order_by(Booking.booker_id)).all()
    for payer in payers:
        points.lock_account(payer)
    meal = access.get_meal(actor, meal.id, lock=True)
    transitions.check(access.MEAL_TRANSITIONS, "cancel", actor, meal, "餐次")
    now = utcnow()
    open_ = list(db.session.scalars(sa.select(Booking).options(selectinload(Booking.diner))
                                    .where(Booking.meal_id == meal.id,
                                           Booking.state == B.BOOKED)))
    db.session.execute(sa.update(Booking).where(Booking.meal_id == meal.id,
                                                Booking.state == B.BOOKED)
                       .values(state=B.CANCELLED, cancelled_at=now, cancelled_by_id=actor.id,
                               cancel_reason=reason)
                       .execution_options(synchronize_session=False))
    meal.state, meal.cancel_reason, meal.closed_at = MealState.CANCELLED, reason, now
    meal.booked_count -= sum(b.quantity for b in open_)
    for booking in open_:
        if booking.points_spent:
            points.refund(booking.booker_id, PointsRule.CANTEEN_REFUND, booking.id,
                          booking.points_spent, note="餐次取消")
    _tell("canteen_meal_cancelled", meal, open_, reason, "meal")
    db.session.flush()
    return len(open_)


def _tell(template: str, meal: Meal, bookings: list[Booking], reason: str, what: str) -> None:
    """One message per booker and per diner with an account, deduplicated per booking."""
    canteen = db.session.get(Canteen, meal.canteen_id)
    title = f"{canteen.name} {meal.day:%m月%d日}{meal.kind.label}"
    rows = []
    for b in bookings:
        refund = f"已退回 {b.points_spent} 积分。" if b.points_spent else ""
        payload = {"title": title, "reason": reason, "refund": refund, "booking_id": b.id,
                   "at": utcnow().isoformat()}
        for user_id in {b.booker_id, b.diner.user_id} - {None}:
            rows.append((user_id, payload, f"canteen:{what}:{b.meal_id}:b{b.id}:cancelled:{user_id}"))
    notify_many(template, rows)


# --- reading ----------------------------------------------------------------------------

def my_bookings(user: User, state: str | None, cursor: str | None, limit: int) -> dict:
    """Bookings I made or that are for me, newest first (keyset)."""
    mine = sa.select(DinerProfile.id).where(DinerProfile.user_id == user.id).scalar_subquery()
    query = (sa.select(Booking).options(selectinload(Booking.meal).selectinload(Meal.canteen),
                                        selectinload(Booking.diner))
             .where(sa.or_(Booking.booker_id == user.id, Booking.diner_id == mine)))
    if state is not None:
        query = query.where(Booking.state == BookingState(state))
    return paginate(query, Booking.id, cursor, limit, descending=True)


def detail(user: User, booking_id: int) -> Booking:
    booking = get_booking(user, booking_id)
    booking.qr_svg = qr_svg(booking.qr_payload)
    return booking


def qr_svg(payload: str) -> str | None:
    try:
        import segno
    except ImportError:  # optional: the payload alone still works (a client draws the code)
        return None
    return segno.make(payload, error="m").svg_inline(scale=4)
