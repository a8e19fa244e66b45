"""六必访 visits: the rules (which care tag is visited how often, by whom), the visits
logged, and the overdue escalations sent to the secretary (once per overdue occurrence).

A visit is to a household (its grid worker owes the rule's visits; the secretary and staff
may visit too) or a 流动党员 一月一联 contact (owed by the secretary of the compound the
member's household is in). Visit notes and care tags are personal data: only the
household's grid worker, the compound's secretary and the community's staff read them.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import LabelledEnum, UTCDateTime, str_enum, utcnow
from app.models.org import CareTag, Household
from app.models.users import Role, User

NOTE_MAX = 500
PHOTOS_MAX = 6
WEEKLY_SECRETARY_TARGET = 3  # the secretary visits at least 3 households a week (seed 001)


class VisitSubject(LabelledEnum):
    HOUSEHOLD = ("household", "住户")
    FLOATING_MEMBER = ("floating_member", "流动党员")


class VisitKind(LabelledEnum):
    HOME = ("home", "上门")
    PHONE = ("phone", "电话")
    VIDEO = ("video", "视频")


class VisitRule(db.Model):
    """How often a subject is owed a visit: a care tag's households, or 流动党员 (no tag)."""

    __tablename__ = "visit_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[VisitSubject] = mapped_column(str_enum(VisitSubject, "visit_subject"))
    care_tag: Mapped[Optional[CareTag]] = mapped_column(str_enum(CareTag, "visit_rule_tag"))
    every_days: Mapped[int] = mapped_column()
    owed_by: Mapped[Role] = mapped_column(str_enum(Role, "visit_rule_role"))
    active: Mapped[bool] = mapped_column(default=True)
    __table_args__ = (
        sa.UniqueConstraint("subject", "care_tag", name="uq_visit_rules_subject_tag"),
        sa.CheckConstraint("every_days BETWEEN 1 AND 366", name="every_days_in_range"),
        sa.CheckConstraint("(subject = 'household') = (care_tag IS NOT NULL)",
                           name="tag_iff_household"),
    )


class Visit(db.Model):
    __tablename__ = "visits"
    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[VisitSubject] = mapped_column(str_enum(VisitSubject, "visit_subject"))
    household_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("households.id"))
    member_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    compound_id: Mapped[int] = mapped_column(sa.ForeignKey("compounds.id"))
    grid_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("grids.id"))
    visitor_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    visitor_role: Mapped[Role] = mapped_column(str_enum(Role, "visit_visitor_role"))
    kind: Mapped[VisitKind] = mapped_column(str_enum(VisitKind, "visit_kind"))
    situation: Mapped[str] = mapped_column(sa.String(NOTE_MAX))  # 三必问: situation,
    needs: Mapped[Optional[str]] = mapped_column(sa.String(NOTE_MAX))  # needs,
    problems: Mapped[Optional[str]] = mapped_column(sa.String(NOTE_MAX))  # problems
    photo_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    wish_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("wishes.id"))
    incident_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("incidents.id"))
    visited_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    household: Mapped[Optional[Household]] = relationship()
    visitor: Mapped[User] = relationship(foreign_keys=[visitor_id])
    __table_args__ = (
        sa.CheckConstraint(
            "(subject = 'household' AND household_id IS NOT NULL AND member_id IS NULL) OR "
            "(subject = 'floating_member' AND member_id IS NOT NULL AND household_id IS NULL)",
            name="one_subject"),
        # The last visit of a subject (due list): one probe, in the order asked (with id).
        sa.Index("ix_visits_household", "household_id", "visited_at", "id"),
        sa.Index("ix_visits_member", "member_id", "visited_at", "id"),
        sa.Index("ix_visits_compound", "compound_id", "visited_at"),
        sa.Index("ix_visits_visited", "visited_at"),  # the weekly notice: the week's visits
    )


class VisitEscalation(db.Model):
    """An overdue visit told to the secretary: one row per subject and missed due time, so
    the climb happens once however often the job runs."""

    __tablename__ = "visit_escalations"
    id: Mapped[int] = mapped_column(primary_key=True)
    subject_key: Mapped[str] = mapped_column(sa.String(32))  # "household:12", "member:5"
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    compound_id: Mapped[int] = mapped_column(sa.ForeignKey("compounds.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (sa.UniqueConstraint("subject_key", "due_at",
                                          name="uq_visit_escalations_once"),)
