"""The meal timers, each one set-based statement over an index (the job's transaction;
these flush and never commit):

- `close_due`: published meals whose booking cutoff has come are `closed` by one
  conditional UPDATE (`ix_meals_state_cutoff`), and each canteen staff member of the meal's
  community gets one message with the count to cook (key
  `canteen-meal:<meal>:closed:<user>`);
- `remind_due`: every booking still `booked` of a meal whose pickup window opens within
  CANTEEN_REMIND_MINUTES gets one reminder with its pickup code (key
  `canteen-remind:<booking>`), to the diner's own account, or to the booker when the diner
  has none (an elder booked for by a relative or the grid worker); bookings already
  reminded are skipped in the SELECT itself, so a rerun reads nothing twice;
- `finish_due`: closed meals whose pickup window has ended are `finished`
  (`ix_meals_state_window`).

A rerun finds nothing left to do: every statement selects on the state it moves rows out
of, and every message's dedupe key names its occurrence. A booking made or cancelled while
a meal closes is decided by the row lock the UPDATE takes (the booking's own UPDATE of
`booked_count` re-checks the state).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.models import (
    Booking,
    BookingState,
    Canteen,
    DinerProfile,
    Meal,
    MealKind,
    MealState,
    Notification,
    Role,
    RoleGrant,
    ScopeKind,
)
from app.models.base import utcnow
from app.services.notifications.outbox import notify_many


def meal_title(canteen: str, day: date, kind: MealKind) -> str:
    """幸福食堂12月2日午餐: how a message names a meal."""
    return f"{canteen}{day.month}月{day.day}日{kind.label}"


def whose(recipient: int, booker: int, diner_user: int | None, diner_name: str) -> str:
    """How a message about a booking addresses its recipient (the booker or the diner)."""
    if recipient != booker:
        return "为您预订的"
    return "您预订的" if diner_user == booker else f"您为{diner_name}预订的"


def recipient_of(booker: int, diner_user: int | None) -> int:
    """The diner picks the meal up: their own account, or the booker's for an elder with
    none."""
    return diner_user if diner_user is not None else booker


def close_due(now: datetime | None = None) -> dict:
    now = now or utcnow()
    closed = db.session.execute(
        sa.update(Meal).where(Meal.state == MealState.PUBLISHED, Meal.cutoff_at <= now)
        .values(state=MealState.CLOSED, closed_at=now)
        .returning(Meal.id, Meal.canteen_id, Meal.community_id, Meal.day, Meal.kind,
                   Meal.booked_count)
        .execution_options(synchronize_session=False)).all()
    if not closed:
        return {"closed": 0, "told": 0}
    ids = [m.id for m in closed]
    orders = dict(db.session.execute(
        sa.select(Booking.meal_id, sa.func.count()).where(
            Booking.meal_id.in_(ids), Booking.state == BookingState.BOOKED)
        .group_by(Booking.meal_id)).all())
    names = dict(db.session.execute(sa.select(Canteen.id, Canteen.name).where(
        Canteen.id.in_({m.canteen_id for m in closed}))).all())
    staff: dict[int, list[int]] = {}
    for community_id, user_id in db.session.execute(
            sa.select(RoleGrant.scope_id, RoleGrant.user_id).where(
                RoleGrant.role == Role.CANTEEN_STAFF, RoleGrant.scope_kind == ScopeKind.COMMUNITY,
                RoleGrant.scope_id.in_({m.community_id for m in closed}))
            .order_by(RoleGrant.user_id)):
        staff.setdefault(community_id, []).append(user_id)
    rows = []
    for meal in closed:
        payload = {"meal_id": meal.id,
                   "title": meal_title(names[meal.canteen_id], meal.day, meal.kind),
                   "portions": meal.booked_count, "bookings": orders.get(meal.id, 0),
                   "at": now.isoformat()}
        rows += [(user_id, payload, f"canteen-meal:{meal.id}:closed:{user_id}")
                 for user_id in staff.get(meal.community_id, [])]
    return {"closed": len(closed), "told": notify_many("canteen_meal_closed", rows)}


def remind_due(now: datetime | None = None) -> dict:
    now = now or utcnow()
    lead = timedelta(minutes=current_app.config["CANTEEN_REMIND_MINUTES"])
    key = sa.literal("canteen-remind:") + sa.cast(Booking.id, sa.String)
    due = db.session.execute(
        sa.select(Booking.id, Booking.booker_id, Booking.pickup_code, Booking.delivery,
                  DinerProfile.user_id.label("diner_user"), DinerProfile.name.label("diner"),
                  Meal.day, Meal.kind, Meal.pickup_starts_at, Canteen.name.label("canteen"))
        .join(Meal, Meal.id == Booking.meal_id).join(Canteen, Canteen.id == Meal.canteen_id)
        .join(DinerProfile, DinerProfile.id == Booking.diner_id)
        .where(Meal.state.in_((MealState.PUBLISHED, MealState.CLOSED)),
               Meal.pickup_starts_at > now, Meal.pickup_starts_at <= now + lead,
               Booking.state == BookingState.BOOKED,
               ~sa.exists().where(Notification.dedupe_key == key))
        .order_by(Booking.id)).all()
    rows = []
    for b in due:
        to = recipient_of(b.booker_id, b.diner_user)
        rows.append((to, {
            "booking_id": b.id, "whose": whose(to, b.booker_id, b.diner_user, b.diner),
            "title": meal_title(b.canteen, b.day, b.kind),
            "starts_at": b.pickup_starts_at.isoformat(), "code": b.pickup_code,
            "how": "送餐上门" if b.delivery else f"到{b.canteen}取餐"},
            f"canteen-remind:{b.id}"))
    return {"reminded": notify_many("canteen_pickup_reminder", rows)}


def finish_due(now: datetime | None = None) -> dict:
    now = now or utcnow()
    result = db.session.execute(
        sa.update(Meal).where(Meal.state == MealState.CLOSED, Meal.pickup_ends_at <= now)
        .values(state=MealState.FINISHED).execution_options(synchronize_session=False))
    return {"finished": result.rowcount}
