"""The canteen section of the weekly notice: meals served (portions picked up) to diners
of the compound's households during the week, and the feedback rating given to the
compound's community canteens in the week (visible feedback only)."""
from __future__ import annotations

import sqlalchemy as sa

from app import timeutil
from app.extensions import db
from app.models import Building, Compound, Household
from app.models.canteen import (
    Booking,
    BookingState,
    Canteen,
    CanteenFeedback,
    DinerProfile,
    FeedbackStatus,
    Meal,
)
from app.services.notices.sources import FEW


def figures(ids, week) -> dict[int, dict]:
    first = timeutil.local(week.since).date()
    last = timeutil.local(week.until).date()
    served = {cid: int(n or 0) for cid, n in db.session.execute(
        sa.select(Building.compound_id, sa.func.sum(Booking.quantity))
        .join(Meal, Meal.id == Booking.meal_id)
        .join(DinerProfile, DinerProfile.id == Booking.diner_id)
        .join(Household, Household.id == DinerProfile.household_id)
        .join(Building, Building.id == Household.building_id)
        .where(Building.compound_id.in_(ids), Booking.state == BookingState.CHECKED_IN,
               Meal.day >= first, Meal.day < last)
        .group_by(Building.compound_id))}
    ratings = {community: (n, avg) for community, n, avg in db.session.execute(
        sa.select(Canteen.community_id, sa.func.count(), sa.func.avg(CanteenFeedback.rating))
        .join(Canteen, Canteen.id == CanteenFeedback.canteen_id)
        .where(CanteenFeedback.status == FeedbackStatus.VISIBLE,
               CanteenFeedback.created_at >= week.since, CanteenFeedback.created_at < week.until)
        .group_by(Canteen.community_id))}
    community_of = dict(db.session.execute(sa.select(Compound.id, Compound.community_id)
                                           .where(Compound.id.in_(ids))).all())
    out = {}
    for cid in ids:
        n, avg = ratings.get(community_of.get(cid), (0, None))
        out[cid] = {"served": served.get(cid, 0), "ratings": n,
                    "rating": round(float(avg), 1) if avg is not None and n >= FEW else None}
    return out
