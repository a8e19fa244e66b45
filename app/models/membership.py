"""Household membership: who really lives where.

A user is a resident only through a verified membership. Binding an address is a request
(`pending`), approved by the building's grid worker or the compound's secretary, by a
verified member of the same household, or at once with a one-time invite code that a grid
worker hands out on a visit. `User.household_id` points at the household of the user's one
verified membership, and is written only when a membership is verified or left.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import LabelledEnum, UTCDateTime, str_enum, utcnow
from app.models.org import Household


class MembershipStatus(LabelledEnum):
    PENDING = ("pending", "待审核")
    VERIFIED = ("verified", "已认证")
    REFUSED = ("refused", "未通过")
    WITHDRAWN = ("withdrawn", "已撤回")
    EXPIRED = ("expired", "已过期")
    LEFT = ("left", "已迁出")


class VerifiedBy(LabelledEnum):
    GRID_WORKER = ("grid_worker", "网格员审核")
    SECRETARY = ("secretary", "小区书记审核")
    STAFF = ("staff", "社区工作者审核")
    INVITE_CODE = ("invite_code", "邀请码")
    HOUSEHOLD_MEMBER = ("household_member", "家庭成员确认")


OPEN_MEMBERSHIP = (MembershipStatus.PENDING, MembershipStatus.VERIFIED)


class HouseholdMembership(db.Model):
    __tablename__ = "household_memberships"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"))
    status: Mapped[MembershipStatus] = mapped_column(
        str_enum(MembershipStatus, "membership_status"))
    verified_by: Mapped[Optional[VerifiedBy]] = mapped_column(str_enum(VerifiedBy, "verified_by"))
    decided_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    note: Mapped[Optional[str]] = mapped_column(sa.String(200))  # refusal reason
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    household: Mapped[Household] = relationship()
    __table_args__ = (
        # One open request and one verified household per user at a time.
        sa.Index("uq_household_memberships_one_pending", "user_id", unique=True,
                 sqlite_where=sa.text("status = 'pending'"),
                 postgresql_where=sa.text("status = 'pending'")),
        sa.Index("uq_household_memberships_one_verified", "user_id", unique=True,
                 sqlite_where=sa.text("status = 'verified'"),
                 postgresql_where=sa.text("status = 'verified'")),
        sa.Index("ix_household_memberships_household", "household_id", "status"),
        sa.Index("ix_household_memberships_status", "status", "id"),
    )


class HouseholdInvite(db.Model):
    """A one-time code that verifies whoever enters it as a member of the household."""

    __tablename__ = "household_invites"
    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"), index=True)
    code: Mapped[str] = mapped_column(sa.String(8))
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    # Set when used, replaced by a newer invite, or expired (housekeeping): a closed code may
    # be drawn again.
    closed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    household: Mapped[Household] = relationship()
    __table_args__ = (
        sa.Index("uq_household_invites_open_code", "code", unique=True,
                 sqlite_where=sa.text("closed_at IS NULL"),
                 postgresql_where=sa.text("closed_at IS NULL")),
    )
