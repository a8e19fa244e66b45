"""三个公开 weekly notices: one per compound and ISO week, versioned when corrected.

`draft → published → superseded` (a correction, version n+1, replaced it) or `withdrawn`
(by staff, with a reason). The numbers are a JSON snapshot, frozen when published; the free
text (`sections`) is the secretary's. At most one draft and one published notice per
compound and week (partial unique indexes), so two publishes at once end in one.
`NoticeSettings` holds what every notice of a compound repeats: the 党群服务站's address and
hours and the contact the secretary chose to make public (none unless they opted in).
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import LabelledEnum, UTCDateTime, str_enum, utcnow
from app.models.org import Compound
from app.models.users import User

SECTION_MAX = 2000
REASON_MAX = 200


class NoticeStatus(LabelledEnum):
    DRAFT = ("draft", "草稿")
    PUBLISHED = ("published", "已发布")
    SUPERSEDED = ("superseded", "已更正")
    WITHDRAWN = ("withdrawn", "已撤回")


class Notice(db.Model):
    __tablename__ = "notices"
    id: Mapped[int] = mapped_column(primary_key=True)
    compound_id: Mapped[int] = mapped_column(sa.ForeignKey("compounds.id"))
    iso_year: Mapped[int] = mapped_column()
    iso_week: Mapped[int] = mapped_column()
    version: Mapped[int] = mapped_column(default=1)
    status: Mapped[NoticeStatus] = mapped_column(str_enum(NoticeStatus, "notice_status"))
    sections: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # free text by section key
    snapshot: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # the numbers
    corrects_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("notices.id"))
    correction_note: Mapped[Optional[str]] = mapped_column(sa.String(REASON_MAX))
    author_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))  # None: job
    published_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    published_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    withdrawn_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    withdrawn_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    withdraw_reason: Mapped[Optional[str]] = mapped_column(sa.String(REASON_MAX))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    compound: Mapped[Compound] = relationship()
    author: Mapped[Optional[User]] = relationship(foreign_keys=[author_id])
    __table_args__ = (
        sa.UniqueConstraint("compound_id", "iso_year", "iso_week", "version",
                            name="uq_notices_version"),
        sa.CheckConstraint("iso_week BETWEEN 1 AND 53", name="week_in_range"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        sa.Index("uq_notices_one_draft", "compound_id", "iso_year", "iso_week", unique=True,
                 sqlite_where=sa.text("status = 'draft'"),
                 postgresql_where=sa.text("status = 'draft'")),
        sa.Index("uq_notices_one_published", "compound_id", "iso_year", "iso_week",
                 unique=True, sqlite_where=sa.text("status = 'published'"),
                 postgresql_where=sa.text("status = 'published'")),
        sa.Index("ix_notices_compound", "compound_id", "id"),
        sa.Index("ix_notices_week", "iso_year", "iso_week", "status"),
    )


class NoticeSettings(db.Model):
    __tablename__ = "notice_settings"
    compound_id: Mapped[int] = mapped_column(sa.ForeignKey("compounds.id"), primary_key=True)
    station_address: Mapped[Optional[str]] = mapped_column(sa.String(100))
    station_hours: Mapped[Optional[str]] = mapped_column(sa.String(100))
    # The contact the secretary published (a phone or a WeChat id they typed, opted in);
    # None: the notice shows no contact.
    public_contact: Mapped[Optional[str]] = mapped_column(sa.String(40))
    updated_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
