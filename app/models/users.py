"""Users, their role grants with scopes, party-member profiles and API tokens."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import LabelledEnum, UTCDateTime, str_enum, utcnow
from app.models.org import Community, Household


class Role(LabelledEnum):
    RESIDENT = ("resident", "居民")
    PARTY_MEMBER = ("party_member", "党员")
    GRID_WORKER = ("grid_worker", "网格员")
    SECRETARY = ("secretary", "小区党组织书记")
    STAFF = ("staff", "社区工作者")
    DEPARTMENT = ("department", "职能部门")
    CANTEEN_STAFF = ("canteen_staff", "食堂工作人员")
    ADMIN = ("admin", "管理员")


class ScopeKind(LabelledEnum):
    GRID = ("grid", "网格")
    COMPOUND = ("compound", "小区")
    COMMUNITY = ("community", "社区")
    DEPARTMENT = ("department", "职能部门")


# The scope each role's grant must carry (None: the role needs no scope).
ROLE_SCOPE = {
    Role.RESIDENT: None,
    Role.PARTY_MEMBER: None,
    Role.GRID_WORKER: ScopeKind.GRID,
    Role.SECRETARY: ScopeKind.COMPOUND,
    Role.STAFF: ScopeKind.COMMUNITY,
    Role.DEPARTMENT: ScopeKind.DEPARTMENT,
    Role.CANTEEN_STAFF: ScopeKind.COMMUNITY,
    Role.ADMIN: None,
}


class PartyMemberKind(LabelledEnum):
    DIRECT = ("direct", "直管党员")
    IN_SERVICE = ("in_service", "在职党员")
    FLOATING = ("floating", "流动党员")
    RETIRED = ("retired", "离退休党员")


class User(db.Model):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    unionid: Mapped[Optional[str]] = mapped_column(sa.String(64), index=True)
    nickname: Mapped[str] = mapped_column(sa.String(64), default="微信用户")
    phone: Mapped[Optional[str]] = mapped_column(sa.String(20))
    # WeChat session key: needed to decrypt user data later; never serialized or logged.
    session_key: Mapped[Optional[str]] = mapped_column(sa.String(128))
    # The official-account identity (a different openid, linked by unionid): grid workers
    # and staff who follow the account get template messages there.
    mp_openid: Mapped[Optional[str]] = mapped_column(sa.String(64), unique=True, index=True)
    mp_following: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    household_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("households.id"),
                                                        index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    household: Mapped[Optional[Household]] = relationship()
    grants: Mapped[list["RoleGrant"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="RoleGrant.id")
    party_profile: Mapped[Optional["PartyMember"]] = relationship(
        back_populates="user", cascade="all, delete-orphan")

    @property
    def roles(self) -> set[Role]:
        return {g.role for g in self.grants}


class RoleGrant(db.Model):
    """A role a user holds, limited to one scope (grid, compound, community, department)."""

    __tablename__ = "role_grants"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"))
    scope_kind: Mapped[Optional[ScopeKind]] = mapped_column(str_enum(ScopeKind, "scope_kind"))
    scope_id: Mapped[Optional[int]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user: Mapped[User] = relationship(back_populates="grants")
    __table_args__ = (
        sa.UniqueConstraint("user_id", "role", "scope_kind", "scope_id"),
        sa.Index("ix_role_grants_scope", "scope_kind", "scope_id", "role"),
    )


class PartyMember(db.Model):
    """Party-member profile (双报到: registered at the home community)."""

    __tablename__ = "party_members"
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    kind: Mapped[PartyMemberKind] = mapped_column(str_enum(PartyMemberKind, "party_member_kind"))
    registered_community_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("communities.id"), index=True)
    registered_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    service_hours: Mapped[Decimal] = mapped_column(sa.Numeric(10, 1), default=Decimal("0"))
    user: Mapped[User] = relationship(back_populates="party_profile")
    registered_community: Mapped[Optional[Community]] = relationship()


class AuthToken(db.Model):
    """An opaque bearer token; only its SHA-256 is stored."""

    __tablename__ = "auth_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    user: Mapped[User] = relationship()
