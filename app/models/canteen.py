"""社区食堂: canteens, meals, diner profiles with their staff-verified flags, bookings,
the feedback box (民意反馈箱) and self-booking suspensions after no-shows.

A `Meal` holds `booked_count`, the portions booked and not cancelled; a CHECK keeps it
between 0 and `capacity`, so "seats left" (`capacity - booked_count`) is exact and never
negative. Booking takes seats with one conditional UPDATE (`app.services.canteen.booking`).
A diner (`DinerProfile`) is a person of a household: a user, or an elder with no smartphone
whom staff record by name. A diner has one active booking per meal (a partial unique index:
a cancelled booking lets the diner book again). The price and subsidy are fixed on the
booking when it is made. A pickup code is unique per canteen and local day among bookings
that are not cancelled.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import LabelledEnum, UTCDateTime, str_enum, utcnow
from app.models.org import Community, Household
from app.models.users import ScopeKind, User


class MealKind(LabelledEnum):
    BREAKFAST = ("breakfast", "早餐")
    LUNCH = ("lunch", "午餐")
    DINNER = ("dinner", "晚餐")


class MealState(LabelledEnum):
    DRAFT = ("draft", "草稿")
    PUBLISHED = ("published", "可预订")
    CLOSED = ("closed", "已截止")
    FINISHED = ("finished", "已结束")
    CANCELLED = ("cancelled", "已取消")


class DinerCategory(LabelledEnum):
    """Staff-verified categories of the meal-assistance programme (老年助餐)."""

    DIBAO = ("dibao", "低保")
    TEKUN = ("tekun", "特困")
    DIBAO_EDGE = ("dibao_edge", "低保边缘")
    DISABLED_CARE = ("disabled_care", "失能")
    DISABILITY = ("disability", "残疾")


class PayWith(LabelledEnum):
    POINTS = ("points", "积分支付")
    COUNTER = ("counter", "到店付款")


class BookingState(LabelledEnum):
    BOOKED = ("booked", "已预订")
    CHECKED_IN = ("checked_in", "已取餐")
    CANCELLED = ("cancelled", "已取消")
    NO_SHOW = ("no_show", "未取餐")


class FeedbackStatus(LabelledEnum):
    VISIBLE = ("visible", "已公开")
    HELD = ("held", "待审核")
    HIDDEN = ("hidden", "已隐藏")


class Canteen(db.Model):
    __tablename__ = "canteens"
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    name: Mapped[str] = mapped_column(sa.String(64))
    address: Mapped[str] = mapped_column(sa.String(200))
    opening_hours: Mapped[Optional[str]] = mapped_column(sa.String(200))  # free text
    pickup: Mapped[bool] = mapped_column(default=True)  # 堂食/自取
    delivery: Mapped[bool] = mapped_column(default=False)  # 送餐上门
    run_by: Mapped[Optional[str]] = mapped_column(sa.String(100))  # e.g. 社区+爱心企业
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    community: Mapped[Community] = relationship()
    __table_args__ = (sa.Index("ix_canteens_community", "community_id", "id"),)

    def scope_keys(self) -> set:
        return {(ScopeKind.COMMUNITY, self.community_id)}


class Meal(db.Model):
    __tablename__ = "meals"
    id: Mapped[int] = mapped_column(primary_key=True)
    canteen_id: Mapped[int] = mapped_column(sa.ForeignKey("canteens.id"))
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))  # the canteen's
    day: Mapped[date] = mapped_column(sa.Date)  # local (Asia/Shanghai) date
    kind: Mapped[MealKind] = mapped_column(str_enum(MealKind, "meal_kind"))
    dishes: Mapped[list] = mapped_column(sa.JSON, default=list)  # names, in menu order
    capacity: Mapped[int] = mapped_column()  # portions
    booked_count: Mapped[int] = mapped_column(default=0)  # portions booked, not cancelled
    price_fen: Mapped[int] = mapped_column()  # base price of one portion
    cutoff_at: Mapped[datetime] = mapped_column(UTCDateTime)  # from a local time
    pickup_starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    pickup_ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[MealState] = mapped_column(str_enum(MealState, "meal_state"),
                                             default=MealState.DRAFT)
    cancel_reason: Mapped[Optional[str]] = mapped_column(sa.String(200))
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    closed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)  # closed/finished/cancelled
    canteen: Mapped[Canteen] = relationship()
    __table_args__ = (
        sa.CheckConstraint("capacity > 0", name="capacity_positive"),
        sa.CheckConstraint("booked_count >= 0 AND booked_count <= capacity",
                           name="booked_within_capacity"),
        sa.CheckConstraint("price_fen >= 0", name="price_not_negative"),
        sa.CheckConstraint("pickup_ends_at > pickup_starts_at", name="window_ends_after_start"),
        # One meal of a kind per canteen and day, cancelled ones aside.
        sa.Index("uq_meals_canteen_day_kind", "canteen_id", "day", "kind", unique=True,
                 sqlite_where=sa.text("state <> 'cancelled'"),
                 postgresql_where=sa.text("state <> 'cancelled'")),
        sa.Index("ix_meals_canteen_day", "canteen_id", "day"),
        # Jobs: published meals reaching their cutoff, closed meals past their window.
        sa.Index("ix_meals_state_cutoff", "state", "cutoff_at"),
        sa.Index("ix_meals_state_window", "state", "pickup_ends_at"),
    )

    @property
    def seats_left(self) -> int:
        return max(self.capacity - self.booked_count, 0)

    @property
    def status(self) -> MealState:  # the name app.services.transitions reads
        return self.state

    def scope_keys(self) -> set:
        return {(ScopeKind.COMMUNITY, self.community_id)}


class DinerProfile(db.Model):
    """A person who eats: a user (self-booking) or a household member staff recorded by name
    (an elder with no smartphone, booked for by a relative or the grid worker)."""

    __tablename__ = "diner_profiles"
    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"))
    user_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"), unique=True)
    name: Mapped[str] = mapped_column(sa.String(32))
    birth_year: Mapped[Optional[int]] = mapped_column()
    created_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    household: Mapped[Household] = relationship()
    user: Mapped[Optional[User]] = relationship(foreign_keys=[user_id])
    flags: Mapped[list["DinerFlag"]] = relationship(
        back_populates="diner", cascade="all, delete-orphan", order_by="DinerFlag.kind")
    __table_args__ = (
        sa.Index("ix_diner_profiles_household", "household_id", "id"),
        sa.CheckConstraint("birth_year IS NULL OR (birth_year >= 1890 AND birth_year <= 2100)",
                           name="birth_year_plausible"),
    )


class DinerFlag(db.Model):
    """One staff-verified category of a diner, with its evidence and expiry."""

    __tablename__ = "diner_flags"
    diner_id: Mapped[int] = mapped_column(sa.ForeignKey("diner_profiles.id"), primary_key=True)
    kind: Mapped[DinerCategory] = mapped_column(str_enum(DinerCategory, "diner_category"),
                                                primary_key=True)
    evidence: Mapped[str] = mapped_column(sa.String(200))  # e.g. 低保证号, 评估报告
    expires_on: Mapped[Optional[date]] = mapped_column(sa.Date)  # last local day it counts
    verified_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    diner: Mapped[DinerProfile] = relationship(back_populates="flags")


class Booking(db.Model):
    __tablename__ = "bookings"
    id: Mapped[int] = mapped_column(primary_key=True)
    meal_id: Mapped[int] = mapped_column(sa.ForeignKey("meals.id"))
    canteen_id: Mapped[int] = mapped_column(sa.ForeignKey("canteens.id"))  # the meal's
    day: Mapped[date] = mapped_column(sa.Date)  # the meal's local date (pickup codes)
    booker_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    diner_id: Mapped[int] = mapped_column(sa.ForeignKey("diner_profiles.id"))
    quantity: Mapped[int] = mapped_column()
    tier: Mapped[str] = mapped_column(sa.String(32))  # a CANTEEN_TIERS key, fixed here
    unit_price_fen: Mapped[int] = mapped_column()  # the meal's base price when booked
    subsidy_fen: Mapped[int] = mapped_column(default=0)  # for the diner's own portion
    amount_fen: Mapped[int] = mapped_column()  # quantity x unit price - subsidy
    pay_with: Mapped[PayWith] = mapped_column(str_enum(PayWith, "pay_with"))
    points_spent: Mapped[int] = mapped_column(default=0)
    delivery: Mapped[bool] = mapped_column(default=False)
    # Personal data: shown only to the canteen's staff (kitchen sheet) and the booker.
    delivery_address: Mapped[Optional[str]] = mapped_column(sa.String(200))
    pickup_code: Mapped[str] = mapped_column(sa.String(6))
    state: Mapped[BookingState] = mapped_column(str_enum(BookingState, "booking_state"),
                                                default=BookingState.BOOKED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    checked_in_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    checked_in_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    cancelled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    cancelled_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    cancel_reason: Mapped[Optional[str]] = mapped_column(sa.String(200))
    meal: Mapped[Meal] = relationship()
    diner: Mapped[DinerProfile] = relationship()
    booker: Mapped[User] = relationship(foreign_keys=[booker_id])
    __table_args__ = (
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.CheckConstraint("subsidy_fen >= 0 AND amount_fen >= 0", name="money_not_negative"),
        sa.CheckConstraint("points_spent >= 0", name="points_not_negative"),
        sa.CheckConstraint("delivery OR delivery_address IS NULL", name="address_only_delivery"),
        sa.Index("uq_bookings_active_diner", "meal_id", "diner_id", unique=True,
                 sqlite_where=sa.text("state <> 'cancelled'"),
                 postgresql_where=sa.text("state <> 'cancelled'")),
        sa.Index("uq_bookings_day_code", "canteen_id", "day", "pickup_code", unique=True,
                 sqlite_where=sa.text("state <> 'cancelled'"),
                 postgresql_where=sa.text("state <> 'cancelled'")),
        sa.Index("ix_bookings_meal", "meal_id", "state"),
        sa.Index("ix_bookings_booker", "booker_id", "id"),
        sa.Index("ix_bookings_diner", "diner_id", "day"),
    )

    @property
    def qr_payload(self) -> str:
        return f"linli:booking:{self.pickup_code}"

    @property
    def status(self) -> BookingState:  # the name app.services.transitions reads
        return self.state

    def scope_keys(self) -> set:
        return self.meal.scope_keys()


class CanteenFeedback(db.Model):
    """民意反馈箱: a rating and a note about a canteen, and the staff's reply."""

    __tablename__ = "canteen_feedback"
    id: Mapped[int] = mapped_column(primary_key=True)
    canteen_id: Mapped[int] = mapped_column(sa.ForeignKey("canteens.id"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    rating: Mapped[int] = mapped_column()
    text: Mapped[Optional[str]] = mapped_column(sa.String(500))
    anonymous: Mapped[bool] = mapped_column(default=False)
    status: Mapped[FeedbackStatus] = mapped_column(
        str_enum(FeedbackStatus, "canteen_feedback_status"), default=FeedbackStatus.VISIBLE)
    reply: Mapped[Optional[str]] = mapped_column(sa.String(500))
    replied_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    replied_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    canteen: Mapped[Canteen] = relationship()
    __table_args__ = (
        sa.CheckConstraint("rating >= 1 AND rating <= 5", name="rating_one_to_five"),
        sa.Index("ix_canteen_feedback_canteen", "canteen_id", "id"),
        sa.Index("ix_canteen_feedback_month", "canteen_id", "created_at"),
    )

    def scope_keys(self) -> set:
        return self.canteen.scope_keys()


class CanteenSuspension(db.Model):
    """Self-booking suspended after repeated no-shows; proxy booking still works."""

    __tablename__ = "canteen_suspensions"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(sa.String(200))
    no_show_count: Mapped[int] = mapped_column()
    lifted_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)  # ended early (appeal)
    lifted_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.Index("ix_canteen_suspensions_user", "user_id", "ends_at"),
    )
