"""The canteen figures of the console dashboard: a community's bookings over a range of
days by outcome and the average rating of its canteens' feedback (two statements)."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from app import timeutil
from app.extensions import db
from app.models import Booking, BookingState, Canteen, CanteenFeedback, FeedbackStatus
from app.services.canteen import feedback
from app.services.permissions import has_role


def figures(user, community, start: date, end: date) -> dict | None:
    """Bookings for meals on the local days start..end in the community's canteens: booked
    (not cancelled), served (picked up), no-show, still waiting, cancelled; and the
    feedback rated in those days (hidden feedback left out). The community's canteen staff
    and staff (`feedback.READERS`); None for anyone else."""
    if not has_role(user, feedback.READERS, community):
        return None
    canteens = sa.select(Canteen.id).where(Canteen.community_id == community.id)
    by_state = dict(db.session.execute(
        sa.select(Booking.state, sa.func.count()).where(
            Booking.canteen_id.in_(canteens), Booking.day >= start, Booking.day <= end)
        .group_by(Booking.state)).all())
    since, until = timeutil.day_bounds(start, end)
    rated = db.session.execute(
        sa.select(sa.func.count(), sa.func.avg(CanteenFeedback.rating)).where(
            CanteenFeedback.canteen_id.in_(canteens),
            CanteenFeedback.status != FeedbackStatus.HIDDEN,
            CanteenFeedback.created_at >= since, CanteenFeedback.created_at < until)).one()
    served, no_show = by_state.get(BookingState.CHECKED_IN, 0), by_state.get(BookingState.NO_SHOW, 0)
    return {"booked": sum(n for s, n in by_state.items() if s is not BookingState.CANCELLED),
            "served": served, "no_show": no_show,
            "waiting": by_state.get(BookingState.BOOKED, 0),
            "cancelled": by_state.get(BookingState.CANCELLED, 0),
            "ratings": rated[0], "rating": round(float(rated[1]), 2) if rated[1] else None}
