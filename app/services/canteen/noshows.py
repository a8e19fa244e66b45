"""No-shows and the suspension they lead to (the `canteen-no-shows` job's transaction;
flushes, never commits).

`mark_due`: a booking still `booked` when its meal's pickup window ended more than
CANTEEN_NO_SHOW_GRACE_MINUTES ago is a `no_show`, in one conditional UPDATE (a check-in
that got there first has moved the row out of `booked`, so the two never both win). The
meal was cooked: points paid for it are not refunded. The recipient (the diner's own
account, else the booker) is told once per booking (`canteen-no-show:<booking>`).

Then the policy, for the people whose own booking (booker = the diner's account) was just
marked: CANTEEN_NO_SHOW_LIMIT no-shows of their own bookings within CANTEEN_NO_SHOW_DAYS,
counted after the start of their last suspension (a no-show is never punished twice),
suspend self-booking for CANTEEN_SUSPENSION_DAYS (a `CanteenSuspension`), unless one is in
force already. Proxy booking by a relative or the grid worker still works, and no-shows of
proxy bookings never suspend the booker. The message says why, until when, and how to
appeal (`canteen-suspended:<suspension>`).

Appeals: the canteen and community staff of the person's home community list the
suspensions in force there (`list_active`) and end one early (`lift`, 409
`suspension_over` once it has ended; the person is told, `canteen_suspension_lifted`).
Anyone else gets 404 `suspension_not_found` for a suspension, 403 for the list.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from app.errors import Conflict, Forbidden, NotFound
from app.extensions import db
from app.models import (
    Booking,
    BookingState,
    Building,
    Canteen,
    CanteenSuspension,
    Community,
    Compound,
    DinerProfile,
    Household,
    Meal,
    MealState,
    Role,
    ScopeKind,
    User,
)
from app.models.base import utcnow
from app.services.canteen.schedule import meal_title, recipient_of, whose
from app.services.notifications.outbox import notify, notify_many
from app.services.pagination import paginate
from app.services.permissions import has_role, has_role_in

APPEAL_ROLES = (Role.CANTEEN_STAFF, Role.STAFF)
APPEAL = "如有特殊情况，可到食堂或社区服务站说明，核实后可提前恢复；家人或网格员仍可代订"


def mark_due(now: datetime | None = None) -> dict:
    now = now or utcnow()
    config = current_app.config
    ended_before = now - timedelta(minutes=config["CANTEEN_NO_SHOW_GRACE_MINUTES"])
    over = sa.select(Meal.id).where(Meal.state.in_((MealState.CLOSED, MealState.FINISHED)),
                                    Meal.pickup_ends_at <= ended_before)
    marked = [b.id for b in db.session.execute(
        sa.update(Booking).where(Booking.state == BookingState.BOOKED,
                                 Booking.meal_id.in_(over))
        .values(state=BookingState.NO_SHOW).returning(Booking.id)
        .execution_options(synchronize_session=False)).all()]
    if not marked:
        return {"no_shows": 0, "suspended": 0}
    rows = db.session.execute(
        sa.select(Booking.id, Booking.booker_id, DinerProfile.user_id.label("diner_user"),
                  DinerProfile.name.label("diner"), Meal.day, Meal.kind, Meal.pickup_ends_at,
                  Canteen.name.label("canteen"))
        .join(Meal, Meal.id == Booking.meal_id).join(Canteen, Canteen.id == Meal.canteen_id)
        .join(DinerProfile, DinerProfile.id == Booking.diner_id)
        .where(Booking.id.in_(marked)).order_by(Booking.id)).all()
    note = (f"{config['CANTEEN_NO_SHOW_DAYS']}天内{config['CANTEEN_NO_SHOW_LIMIT']}次未取餐将暂停"
            f"自助订餐{config['CANTEEN_SUSPENSION_DAYS']}天")
    messages = []
    for b in rows:
        to = recipient_of(b.booker_id, b.diner_user)
        messages.append((to, {
            "booking_id": b.id, "whose": whose(to, b.booker_id, b.diner_user, b.diner),
            "title": meal_title(b.canteen, b.day, b.kind), "status": "未取餐",
            "at": b.pickup_ends_at.isoformat(), "note": note}, f"canteen-no-show:{b.id}"))
    notify_many("canteen_no_show", messages)
    own = {b.booker_id for b in rows if b.diner_user == b.booker_id}
    return {"no_shows": len(marked), "suspended": _suspend(own, now)}


def _suspend(user_ids: set[int], now: datetime) -> int:
    if not user_ids:
        return 0
    config = current_app.config
    limit, days = config["CANTEEN_NO_SHOW_LIMIT"], config["CANTEEN_NO_SHOW_DAYS"]
    last_start = (sa.select(sa.func.max(CanteenSuspension.starts_at))
                  .where(CanteenSuspension.user_id == Booking.booker_id).scalar_subquery())
    in_force = sa.exists().where(CanteenSuspension.user_id == Booking.booker_id,
                                 CanteenSuspension.ends_at > now,
                                 CanteenSuspension.lifted_at.is_(None))
    counts = db.session.execute(
        sa.select(Booking.booker_id, sa.func.count())
        .join(Meal, Meal.id == Booking.meal_id)
        .join(DinerProfile, sa.and_(DinerProfile.id == Booking.diner_id,
                                    DinerProfile.user_id == Booking.booker_id))
        .where(Booking.booker_id.in_(user_ids), Booking.state == BookingState.NO_SHOW,
               Meal.pickup_ends_at > now - timedelta(days=days),
               sa.or_(last_start.is_(None), Meal.pickup_ends_at > last_start), ~in_force)
        .group_by(Booking.booker_id).having(sa.func.count() >= limit)
        .order_by(Booking.booker_id)).all()
    ends_at = now + timedelta(days=config["CANTEEN_SUSPENSION_DAYS"])
    messages = []
    for user_id, count in counts:
        reason = f"近{days}天内{count}次预订未取餐"
        suspension = CanteenSuspension(user_id=user_id, starts_at=now, ends_at=ends_at,
                                       reason=reason, no_show_count=count, created_at=now)
        db.session.add(suspension)
        db.session.flush()
        messages.append((user_id, {"reason": reason, "until": ends_at.isoformat(),
                                   "appeal": APPEAL}, f"canteen-suspended:{suspension.id}"))
    notify_many("canteen_suspended", messages)
    return len(counts)


# --- appeals: the staff's list and lifting a suspension early ---------------------------

def _community_of_user(user_id: int) -> int | None:
    return db.session.scalar(sa.select(Compound.community_id).join(Building).join(Household)
                             .join(User, User.household_id == Household.id)
                             .where(User.id == user_id))


def list_active(actor: User, community_id: int, cursor: str | None, limit: int) -> dict:
    """Suspensions in force of people living in the community, newest first (its canteen
    and community staff)."""
    community = db.session.get(Community, community_id)
    if community is None:
        raise NotFound("社区不存在", code="community_not_found")
    if not has_role(actor, APPEAL_ROLES, community):
        raise Forbidden()
    now = utcnow()
    query = (sa.select(CanteenSuspension.id, CanteenSuspension.user_id, User.nickname,
                       CanteenSuspension.starts_at, CanteenSuspension.ends_at,
                       CanteenSuspension.reason, CanteenSuspension.no_show_count)
             .join(User, User.id == CanteenSuspension.user_id)
             .join(Household, Household.id == User.household_id)
             .join(Building, Building.id == Household.building_id)
             .join(Compound, Compound.id == Building.compound_id)
             .where(Compound.community_id == community.id, CanteenSuspension.ends_at > now,
                    CanteenSuspension.lifted_at.is_(None)))
    page = paginate(query, CanteenSuspension.id, cursor, limit, descending=True)
    return {"items": [_view(row, row["nickname"]) for row in page["items"]],
            "next_cursor": page["next_cursor"]}


def _view(row, nickname: str | None) -> dict:
    def get(name):
        return row[name] if not isinstance(row, CanteenSuspension) else getattr(row, name)
    return {"id": get("id"), "user": {"id": get("user_id"), "nickname": nickname},
            "starts_at": get("starts_at"), "ends_at": get("ends_at"), "reason": get("reason"),
            "no_show_count": get("no_show_count"),
            "lifted_at": get("lifted_at") if isinstance(row, CanteenSuspension) else None}


def lift(actor: User, suspension_id: int) -> dict:
    """End a suspension early after an appeal (staff of the person's community); the person
    is told. One transaction."""
    suspension = db.session.scalar(
        sa.select(CanteenSuspension).where(CanteenSuspension.id == suspension_id)
        .with_for_update().execution_options(populate_existing=True))
    community = None if suspension is None else _community_of_user(suspension.user_id)
    if community is None or not has_role_in(actor, APPEAL_ROLES,
                                            {(ScopeKind.COMMUNITY, community)}):
        raise NotFound("暂停记录不存在", code="suspension_not_found")
    now = utcnow()
    if suspension.lifted_at is not None or suspension.ends_at <= now:
        raise Conflict("该暂停已结束", code="suspension_over")
    suspension.lifted_at, suspension.lifted_by_id = now, actor.id
    notify(suspension.user_id, "canteen_suspension_lifted",
           {"note": "经工作人员核实，您的自助订餐已恢复", "at": now.isoformat()},
           dedupe_key=f"canteen-suspension:{suspension.id}:lifted")
    db.session.commit()
    return _view(suspension, db.session.scalar(sa.select(User.nickname).where(
        User.id == suspension.user_id)))
