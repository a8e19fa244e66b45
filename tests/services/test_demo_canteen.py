"""The demo's 社区食堂 (app/services/demo/canteen.py): a week of meals in states that fit the
clock, a diner of every tier priced as a real booking is, bookings in every state with
counts that match, proxy bookings by those allowed to make them, nothing added twice."""
from __future__ import annotations

from collections import Counter

import sqlalchemy as sa

from app.extensions import db
from app.models import (
    Booking,
    BookingState,
    Canteen,
    DinerProfile,
    LedgerEntry,
    Meal,
    MealState,
    User,
)
from app.models.base import utcnow
from app.services.canteen import access, eligibility
from app.services.demo.seed import seed_demo


def test_the_demo_canteen_has_a_week_every_tier_and_every_state_once(ctx):
    first = seed_demo()
    [canteen] = db.session.scalars(sa.select(Canteen)).all()
    assert canteen.name == "幸福食堂" and canteen.delivery
    meals = db.session.scalars(sa.select(Meal).order_by(Meal.day, Meal.id)).all()
    assert first["meals_added"] == len(meals) == 22
    assert {m.state for m in meals} >= {MealState.FINISHED, MealState.PUBLISHED,
                                        MealState.DRAFT, MealState.CANCELLED}
    now = utcnow()
    for meal in meals:
        if meal.state is MealState.FINISHED:
            assert now >= meal.pickup_ends_at
        elif meal.state is MealState.PUBLISHED:
            assert now < meal.cutoff_at
        elif meal.state is MealState.CLOSED:
            assert meal.cutoff_at <= now < meal.pickup_ends_at
        # The count the kitchen reads is the portions of the bookings that stand.
        standing = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Booking.quantity), 0))
                                     .where(Booking.meal_id == meal.id,
                                            Booking.state != BookingState.CANCELLED))
        assert meal.booked_count == standing, (meal.day, meal.kind)
        assert meal.pickup_starts_at >= meal.cutoff_at
    days = sorted({m.day for m in meals if m.state is not MealState.DRAFT})
    assert len(days) == 7

    bookings = db.session.scalars(sa.select(Booking)).all()
    assert {b.state for b in bookings} == set(BookingState)
    # Every tier of the configured table (and the standard price) has a diner, and each
    # booking's price is what a booking made now would be quoted.
    assert {b.tier for b in bookings} == {t.key for t in eligibility.tiers()} | {"standard"}
    for booking in bookings:
        price = eligibility.quote(booking.diner, booking.meal, booking.quantity)
        assert (booking.tier, booking.subsidy_fen, booking.amount_fen) == (
            price.tier.key, price.subsidy_fen, price.amount_fen), booking.diner.name
        assert len(booking.pickup_code) == 6 and booking.pickup_code.isdigit()
        assert (booking.checked_in_at is not None) == (booking.state is BookingState.CHECKED_IN)
        assert booking.delivery == (booking.delivery_address is not None)
        # 代订 only by someone allowed to book for the diner.
        if booking.diner.user_id != booking.booker_id:
            assert access.may_book_for(booking.booker, booking.diner), booking.diner.name
    cancelled_meal = next(m for m in meals if m.state is MealState.CANCELLED)
    assert cancelled_meal.cancel_reason and {
        b.state for b in bookings if b.meal_id == cancelled_meal.id} == {BookingState.CANCELLED}
    states = Counter(b.state for b in bookings)
    assert states[BookingState.NO_SHOW] == 1 and states[BookingState.CHECKED_IN] >= 20
    # The expired 低保 flag does not count: 郑叔 eats at the 残疾人 tier.
    zheng = db.session.scalar(sa.select(DinerProfile).where(DinerProfile.name == "郑叔"))
    assert {b.tier for b in bookings if b.diner_id == zheng.id} == {"disability"}
    # Everyone pays at the counter: the points history is the demo's own.
    assert all(b.points_spent == 0 for b in bookings)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry).where(
        LedgerEntry.ref.like("booking:%"))) == 0

    again = seed_demo()
    assert again["meals_added"] == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == len(bookings)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DinerProfile)) == 11
    resident = db.session.scalar(sa.select(User).where(User.openid == "demo-resident"))
    assert db.session.scalar(sa.select(DinerProfile.name).where(
        DinerProfile.user_id == resident.id)) == "张阿姨"
