"""The counter and the kitchen: check-in by pickup code, and the kitchen sheet (按需供餐).

Check-in is for the canteen staff of the booking's canteen, on the meal's local day and
within its pickup window, once: the conditional UPDATE from `booked` decides, so a check-in
racing a cancellation leaves exactly one outcome, and a second check-in is told when the
first one happened.

The kitchen sheet counts portions by dish, tier, and pickup or delivery. Before the cutoff
it is live; from the cutoff it is frozen: it counts what was booked by then and not
cancelled before it (a staff cancellation afterwards does not uncook a meal). Delivery
addresses are personal data: only the canteen staff get the delivery list.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app import timeutil
from app.errors import Conflict, Forbidden, NotFound
from app.extensions import db
from app.models import Booking, BookingState, Canteen, User
from app.models.base import utcnow
from app.services import codes, transitions
from app.services.canteen import access, eligibility
from app.services.canteen.booking import BOOKING_TRANSITIONS
from app.services.permissions import has_role

B = BookingState


def _already(booking: Booking) -> Conflict:
    at = timeutil.local(booking.checked_in_at)
    return Conflict(f"该取餐码已于 {at:%H:%M:%S} 取过餐", code="already_checked_in",
                    errors={"checked_in_at": booking.checked_in_at.isoformat()})


def _find(actor: User, code: str, canteen_id: int | None) -> Booking:
    """The booking a code names at a canteen the actor serves: today's first."""
    today = timeutil.today()
    query = (sa.select(Booking).join(Canteen, Canteen.id == Booking.canteen_id)
             .options(selectinload(Booking.meal), selectinload(Booking.diner))
             .where(Booking.pickup_code == code)
             .order_by((Booking.day == today).desc(), (Booking.state != B.CANCELLED).desc(),
                       Booking.day.desc(), Booking.id.desc()).limit(20))
    if canteen_id is not None:
        query = query.where(Booking.canteen_id == canteen_id)
    found = [b for b in db.session.scalars(query) if access.is_kitchen(actor, b.meal)]
    if not found:
        raise NotFound("取餐码不存在", code="booking_not_found")
    live_today = [b for b in found if b.day == today and b.state is not B.CANCELLED]
    if len({b.canteen_id for b in live_today}) > 1:
        raise Conflict("多个食堂有此取餐码，请指定食堂", code="ambiguous_pickup_code",
                       errors={"canteen_ids": sorted({b.canteen_id for b in live_today})})
    booking = found[0]
    if booking.day != today:
        raise Conflict(f"这是 {booking.day:%m月%d日} 的订餐，不是今天的", code="not_meal_day",
                       errors={"day": booking.day.isoformat()})
    return booking


def check_in(actor: User, pickup_code: str, canteen_id: int | None = None) -> Booking:
    if not has_role(actor, access.KITCHEN):
        raise Forbidden()
    code = codes.parse(pickup_code, "booking")  # typed, or scanned from the QR code
    now = utcnow()
    booking = _find(actor, code, canteen_id)
    if booking.state is B.CHECKED_IN:
        raise _already(booking)
    transitions.check(BOOKING_TRANSITIONS, "check_in", actor, booking, "订单")
    meal = booking.meal
    if not meal.pickup_starts_at <= now < meal.pickup_ends_at:
        start, end = timeutil.local(meal.pickup_starts_at), timeutil.local(meal.pickup_ends_at)
        raise Conflict(f"不在取餐时间内（{start:%H:%M}–{end:%H:%M}）", code="outside_pickup_window",
                       errors={"starts_at": meal.pickup_starts_at.isoformat(),
                               "ends_at": meal.pickup_ends_at.isoformat()})
    done = db.session.execute(
        sa.update(Booking).where(Booking.id == booking.id, Booking.state == B.BOOKED)
        .values(state=B.CHECKED_IN, checked_in_at=now, checked_in_by_id=actor.id)
        .execution_options(synchronize_session=False)).rowcount
    db.session.refresh(booking)
    if done != 1:  # someone got there first: a check-in or a cancellation
        if booking.state is B.CHECKED_IN:
            raise _already(booking)
        transitions.check(BOOKING_TRANSITIONS, "check_in", actor, booking, "订单")
    db.session.commit()
    return booking


def sheet(actor: User, meal_id: int) -> dict:
    """Counts for the kitchen: live before the cutoff, frozen from it."""
    meal = access.get_meal(actor, meal_id)
    kitchen = access.is_kitchen(actor, meal)
    if not (kitchen or access.runs_menus(actor, meal)):
        raise Forbidden()
    now = utcnow()
    frozen = now >= meal.cutoff_at
    query = (sa.select(Booking).options(selectinload(Booking.diner))
             .where(Booking.meal_id == meal.id))
    if frozen:  # as it stood at the cutoff
        query = query.where(Booking.created_at < meal.cutoff_at, sa.or_(
            Booking.cancelled_at.is_(None), Booking.cancelled_at >= meal.cutoff_at))
    else:
        query = query.where(Booking.state != B.CANCELLED)
    rows = list(db.session.scalars(query.order_by(Booking.id)))
    portions = sum(b.quantity for b in rows)
    names = eligibility.tier_names()
    tiers: dict[str, dict] = {}
    for b in rows:
        tier = tiers.setdefault(b.tier, {"key": b.tier, "name": names.get(b.tier, b.tier),
                                         "bookings": 0, "portions": 0, "subsidy_fen": 0})
        tier["bookings"] += 1
        tier["portions"] += b.quantity
        tier["subsidy_fen"] += b.subsidy_fen

    def way(delivery: bool) -> dict:
        chosen = [b for b in rows if b.delivery is delivery]
        return {"bookings": len(chosen), "portions": sum(b.quantity for b in chosen)}
    result = {
        "meal": meal, "frozen": frozen, "as_of": meal.cutoff_at if frozen else now,
        "bookings": len(rows), "portions": portions,
        "dishes": [{"name": name, "portions": portions} for name in meal.dishes],
        "tiers": sorted(tiers.values(), key=lambda t: -t["portions"]),
        "pickup": way(False), "delivery": way(True),
    }
    if kitchen:  # the addresses: canteen staff only
        result["deliveries"] = [
            {"booking_id": b.id, "diner": b.diner.name, "quantity": b.quantity,
             "address": b.delivery_address, "pickup_code": b.pickup_code, "state": b.state}
            for b in rows if b.delivery]
    return result
