"""随手拍 incidents: categories with SLAs, the incident, its timeline and its followers.

An incident's org columns (building, compound, grid, community) are copied from its
building when it is filed, so every list and permission check is one indexed column away.
`Incident.sla_next_at` is the next moment the SLA job must look at an incident (a reminder
or a breach step). It lives in its own narrow table, `incident_sla_clocks` (one row per
incident on its ladder), so the job reads only due rows through one index and moves them
on without rewriting the incident's wide row and its nine indexes every minute.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import LabelledEnum, UTCDateTime, str_enum, utcnow
from app.models.org import Building
from app.models.users import ScopeKind, User

DEFAULT_RESPOND_HOURS = 1  # 岢岚县: respond within an hour, resolve within a day
DEFAULT_RESOLVE_HOURS = 24


class IncidentStatus(LabelledEnum):
    SUBMITTED = ("submitted", "待派单")
    PENDING_REVIEW = ("pending_review", "待审核")
    DISPATCHED = ("dispatched", "已派单")
    ACCEPTED = ("accepted", "已接单")
    IN_PROGRESS = ("in_progress", "处理中")
    ESCALATED = ("escalated", "已上报部门")
    RESOLVED = ("resolved", "已办结")
    CLOSED = ("closed", "已关闭")
    REJECTED = ("rejected", "不予受理")


OPEN_STATUSES = (IncidentStatus.SUBMITTED, IncidentStatus.PENDING_REVIEW,
                 IncidentStatus.DISPATCHED, IncidentStatus.ACCEPTED,
                 IncidentStatus.IN_PROGRESS, IncidentStatus.ESCALATED)
# The same, as SQL, for the partial index of open incidents (ix_incidents_open_due).
OPEN_SQL = "status IN ({})".format(", ".join(f"'{s.value}'" for s in OPEN_STATUSES))


class RejectReason(LabelledEnum):
    DUPLICATE = ("duplicate", "重复上报，已合并到另一条")
    NOT_RESPONSIBLE = ("not_responsible", "不属于社区职责，已转交")
    INVALID = ("invalid", "信息无效")


class CloseReason(LabelledEnum):
    CONFIRMED = ("confirmed", "居民确认解决")
    AUTO_CLOSED = ("auto_closed", "办结后72小时未确认，自动关闭")


class IncidentCategory(db.Model):
    __tablename__ = "incident_categories"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(32))
    respond_hours: Mapped[float] = mapped_column(sa.Float, default=DEFAULT_RESPOND_HOURS)
    resolve_hours: Mapped[float] = mapped_column(sa.Float, default=DEFAULT_RESOLVE_HOURS)
    default_department_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("departments.id"))
    public: Mapped[bool] = mapped_column(default=True)  # may appear in the public view
    anonymous_allowed: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)


class IncidentSlaClock(db.Model):
    """When the SLA job must next look at an open incident; `next_at` is empty once its
    ladder has run out (the next transition starts it again)."""
    __tablename__ = "incident_sla_clocks"
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id"), primary_key=True)
    next_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    __table_args__ = (sa.Index("ix_incident_sla_clocks_due", "next_at", "incident_id"),)


class Incident(db.Model):
    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(primary_key=True)
    reporter_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("incident_categories.id"))
    description: Mapped[str] = mapped_column(sa.String(500))
    anonymous: Mapped[bool] = mapped_column(default=False)
    lat: Mapped[Optional[float]] = mapped_column(sa.Float)
    lng: Mapped[Optional[float]] = mapped_column(sa.Float)
    building_id: Mapped[int] = mapped_column(sa.ForeignKey("buildings.id"))
    # Copied when it is filed, so later changes cannot rewrite an old report: whether the
    # public view may show it (its category's `public` then), and the reporter's own
    # building (their verified household's then; none for staff), which the mask names.
    public: Mapped[bool] = mapped_column()
    reporter_building_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("buildings.id"))
    compound_id: Mapped[int] = mapped_column(sa.ForeignKey("compounds.id"))
    grid_id: Mapped[int] = mapped_column(sa.ForeignKey("grids.id"))
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    status: Mapped[IncidentStatus] = mapped_column(str_enum(IncidentStatus, "incident_status"))
    assignee_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    department_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("departments.id"))
    respond_by: Mapped[datetime] = mapped_column(UTCDateTime)
    resolve_by: Mapped[datetime] = mapped_column(UTCDateTime)
    responded_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    resolved_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    closed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    close_reason: Mapped[Optional[CloseReason]] = mapped_column(str_enum(CloseReason, "close_reason"))
    reject_reason: Mapped[Optional[RejectReason]] = mapped_column(
        str_enum(RejectReason, "reject_reason"))
    duplicate_of_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("incidents.id"))
    rating: Mapped[Optional[int]] = mapped_column()
    follower_count: Mapped[int] = mapped_column(default=0)
    reopen_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    reporter: Mapped[User] = relationship(foreign_keys=[reporter_id])
    assignee: Mapped[Optional[User]] = relationship(foreign_keys=[assignee_id])
    category: Mapped[IncidentCategory] = relationship()
    building: Mapped[Building] = relationship(foreign_keys=[building_id])
    sla_clock: Mapped[Optional[IncidentSlaClock]] = relationship(cascade="all, delete-orphan")

    @property
    def sla_next_at(self) -> datetime | None:
        return self.sla_clock.next_at if self.sla_clock is not None else None

    @sla_next_at.setter
    def sla_next_at(self, at: datetime | None) -> None:
        if at is None:
            self.sla_clock = None  # off the ladder (closed): the clock row goes
        elif self.sla_clock is None:
            self.sla_clock = IncidentSlaClock(next_at=at)
        else:
            self.sla_clock.next_at = at

    __table_args__ = (
        sa.Index("ix_incidents_reporter", "reporter_id", "id"),
        sa.Index("ix_incidents_assignee", "assignee_id", "id"),
        sa.Index("ix_incidents_department", "department_id", "id"),
        sa.Index("ix_incidents_compound", "compound_id", "id"),
        sa.Index("ix_incidents_grid", "grid_id", "id"),
        sa.Index("ix_incidents_community", "community_id", "id"),
        sa.Index("ix_incidents_status_resolved", "status", "resolved_at"),
        sa.Index("ix_incidents_nearby", "category_id", "lat"),
        # The weekly notice (app.services.notices.sources): the week's reports, whatever
        # the size of the history (its open ones come through ix_incidents_status_resolved).
        sa.Index("ix_incidents_created", "created_at"),
        # The console dashboard (incidents.stats.dashboard; migration 0090): a community's
        # incidents filed in a range, counted from the index alone, and the open ones (a
        # partial index) by deadline with their scope and building.
        sa.Index("ix_incidents_community_created", "community_id", "created_at",
                 postgresql_include=["status", "category_id", "responded_at", "respond_by",
                                     "resolved_at", "resolve_by"]),
        sa.Index("ix_incidents_open_due", "resolve_by",
                 postgresql_include=["community_id", "compound_id", "grid_id", "building_id",
                                     "status", "id"],
                 postgresql_where=sa.text(OPEN_SQL), sqlite_where=sa.text(OPEN_SQL)),
        sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_range"),
    )

    def scope_keys(self) -> set:
        keys = {(ScopeKind.GRID, self.grid_id), (ScopeKind.COMPOUND, self.compound_id),
                (ScopeKind.COMMUNITY, self.community_id)}
        if self.department_id is not None:
            keys.add((ScopeKind.DEPARTMENT, self.department_id))
        return keys


class IncidentEvent(db.Model):
    """One line of an incident's timeline: who did what, when, with what note and photos."""

    __tablename__ = "incident_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    # No FOREIGN KEY (migration 0110): every event is written with its incident, which is
    # never deleted; the check locked the incident's row for each event the SLA sweep wrote.
    incident_id: Mapped[int] = mapped_column()
    actor_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))  # None: system
    action: Mapped[str] = mapped_column(sa.String(32))
    from_status: Mapped[Optional[str]] = mapped_column(sa.String(32))
    to_status: Mapped[Optional[str]] = mapped_column(sa.String(32))
    note: Mapped[Optional[str]] = mapped_column(sa.String(500))
    photo_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[Optional[User]] = relationship()
    __table_args__ = (
        sa.Index("ix_incident_events_incident", "incident_id", "id"),
        # The weekly notice's escalations of the week (a few rows among every event).
        sa.Index("ix_incident_events_escalated", "created_at",
                 sqlite_where=sa.text("action = 'escalate'"),
                 postgresql_where=sa.text("action = 'escalate'")),
    )


class IncidentFollower(db.Model):
    """附议 "me too": another resident who has the same problem and follows this one."""

    __tablename__ = "incident_followers"
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True,
                                         index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
