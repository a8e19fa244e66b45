"""Party work: 双报到 registrations, service posts, sign-ups and service-hour logs.

A party member registers at a home community (`PartyRegistration`); staff of that community
confirm it. A member has at most one confirmed registration (a partial unique index): a
transfer is a new registration which, once confirmed, ends the old one, so the history
stays. Staff publish `ServicePost`s (a time window, a place, a headcount); confirmed
members sign up (`ServiceSignup`, one per member and post; `signup_count` never exceeds
`headcount`, a CHECK backing the post's row lock). Hours are `ServiceLog`s: checked in and
out at the post with its rotating QR token (one such log per member and post), or entered
by staff (manual, verified by them). A log is at most 8 hours (CHECK); one closed by the
job because nobody checked out is `flagged` until staff verify it. 党员积分: staff enter
`PartyScoreItem`s (± points with a reason) for a member's yearly score; they are never
changed or deleted (a mistake is corrected by another item).
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import LabelledEnum, UTCDateTime, str_enum, utcnow
from app.models.org import Community
from app.models.users import ScopeKind, User

MAX_LOG_HOURS = 8
TITLE_MAX = 40
SCORE_ITEM_MAX = 100  # points one staff-entered item may add or take
REASON_MAX = 100


class RegistrationStatus(LabelledEnum):
    PENDING = ("pending", "待确认")
    CONFIRMED = ("confirmed", "已报到")
    REJECTED = ("rejected", "未通过")
    ENDED = ("ended", "已结束")


class ServiceCategory(LabelledEnum):
    ORGANIZATION = ("organization", "组织建设")
    LEGAL = ("legal", "法律咨询与援助")
    ASSISTANCE = ("assistance", "助困扶残")
    GOVERNANCE = ("governance", "社区治理")
    HEALTH = ("health", "健康医疗")
    CULTURE = ("culture", "文化体育")
    SAFETY = ("safety", "安全宣传与治安巡逻")
    OTHER = ("other", "其他")


class LogSource(LabelledEnum):
    CHECKIN = ("checkin", "扫码签到")
    MANUAL = ("manual", "人工录入")


class PartyRegistration(db.Model):
    """双报到: a party member registers at a home community, where they serve."""

    __tablename__ = "party_registrations"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    employer: Mapped[str] = mapped_column(sa.String(100))  # 工作单位
    skills: Mapped[Optional[str]] = mapped_column(sa.String(200))  # 特长
    status: Mapped[RegistrationStatus] = mapped_column(
        str_enum(RegistrationStatus, "party_registration_status"))
    decided_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    note: Mapped[Optional[str]] = mapped_column(sa.String(200))  # the rejection reason
    ended_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    community: Mapped[Community] = relationship()

    __table_args__ = (
        # One home community at a time, and one request waiting.
        sa.Index("uq_party_registrations_one_confirmed", "user_id", unique=True,
                 sqlite_where=sa.text("status = 'confirmed'"),
                 postgresql_where=sa.text("status = 'confirmed'")),
        sa.Index("uq_party_registrations_one_pending", "user_id", unique=True,
                 sqlite_where=sa.text("status = 'pending'"),
                 postgresql_where=sa.text("status = 'pending'")),
        sa.Index("ix_party_registrations_user", "user_id", "id"),
        sa.Index("ix_party_registrations_community", "community_id", "status", "id"),
    )

    def scope_keys(self) -> set:
        return {(ScopeKind.COMMUNITY, self.community_id)}


class ServicePost(db.Model):
    """A service post (服务岗位) staff publish: what, when, where, how many people."""

    __tablename__ = "service_posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    title: Mapped[str] = mapped_column(sa.String(TITLE_MAX))
    category: Mapped[ServiceCategory] = mapped_column(
        str_enum(ServiceCategory, "service_category"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    place: Mapped[str] = mapped_column(sa.String(100))
    headcount: Mapped[int] = mapped_column()
    signup_count: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    community: Mapped[Community] = relationship()

    __table_args__ = (
        sa.Index("ix_service_posts_community", "community_id", "id"),
        sa.Index("ix_service_posts_ends", "ends_at"),
        sa.CheckConstraint("headcount > 0", name="headcount_positive"),
        sa.CheckConstraint("signup_count >= 0 AND signup_count <= headcount",
                           name="signups_within_headcount"),
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
    )

    def scope_keys(self) -> set:
        return {(ScopeKind.COMMUNITY, self.community_id)}


class ServiceSignup(db.Model):
    __tablename__ = "service_signups"
    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(sa.ForeignKey("service_posts.id"))
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    post: Mapped[ServicePost] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("post_id", "member_id"),
        sa.Index("ix_service_signups_member", "member_id", "id"),
    )


class ServiceLog(db.Model):
    """Hours served: checked in and out at a post, or entered by staff (manual)."""

    __tablename__ = "service_logs"
    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    post_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("service_posts.id"))
    source: Mapped[LogSource] = mapped_column(str_enum(LogSource, "service_log_source"))
    check_in_at: Mapped[datetime] = mapped_column(UTCDateTime)
    check_out_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    hours: Mapped[Optional[Decimal]] = mapped_column(sa.Numeric(4, 1))  # set when closed
    flagged: Mapped[bool] = mapped_column(default=False)  # closed by the job: staff check it
    verified_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    verified_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)  # earns points
    note: Mapped[Optional[str]] = mapped_column(sa.String(200))
    created_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    post: Mapped[Optional[ServicePost]] = relationship()

    __table_args__ = (
        # One check-in log per member and post: scanning again finds it.
        sa.Index("uq_service_logs_one_checkin", "post_id", "member_id", unique=True,
                 sqlite_where=sa.text("source = 'checkin'"),
                 postgresql_where=sa.text("source = 'checkin'")),
        sa.Index("ix_service_logs_member", "member_id", "check_in_at"),
        sa.Index("ix_service_logs_history", "member_id", "id"),
        sa.Index("ix_service_logs_open", "post_id",
                 sqlite_where=sa.text("check_out_at IS NULL"),
                 postgresql_where=sa.text("check_out_at IS NULL")),
        sa.Index("ix_service_logs_community", "community_id", "flagged", "id"),
        sa.CheckConstraint(f"hours IS NULL OR (hours >= 0 AND hours <= {MAX_LOG_HOURS})",
                           name="hours_within_a_day"),
        sa.CheckConstraint("check_out_at IS NULL OR check_out_at >= check_in_at",
                           name="out_after_in"),
        sa.CheckConstraint("source = 'manual' OR post_id IS NOT NULL",
                           name="checkin_has_post"),
    )

    def scope_keys(self) -> set:
        return {(ScopeKind.COMMUNITY, self.community_id)}


class PartyScoreItem(db.Model):
    """党员积分: points staff add (+) or take (-) for a member's yearly score, with a reason.
    Append-only: nothing updates or deletes an item (the ORM refuses)."""

    __tablename__ = "party_score_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    year: Mapped[int] = mapped_column()
    points: Mapped[int] = mapped_column()
    reason: Mapped[str] = mapped_column(sa.String(REASON_MAX))
    entered_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    member: Mapped[User] = relationship(foreign_keys=[member_id])
    entered_by: Mapped[User] = relationship(foreign_keys=[entered_by_id])

    __table_args__ = (
        sa.Index("ix_party_score_items_member", "member_id", "year", "id"),
        sa.Index("ix_party_score_items_community", "community_id", "year", "id"),
        sa.CheckConstraint(f"points <> 0 AND points BETWEEN -{SCORE_ITEM_MAX} AND "
                           f"{SCORE_ITEM_MAX}", name="points_in_range"),
        sa.CheckConstraint("year BETWEEN 2000 AND 2100", name="year_in_range"),
    )

    def scope_keys(self) -> set:
        return {(ScopeKind.COMMUNITY, self.community_id)}


@sa.event.listens_for(PartyScoreItem, "before_update")
@sa.event.listens_for(PartyScoreItem, "before_delete")
def _append_only(mapper, connection, target):
    raise RuntimeError(f"party score item {target.id} is append-only; enter a correcting item")
