"""Excel exports too big to answer in the request (over `EXPORT_SYNC_MAX_ROWS` rows): one row
per export asked for, run by the `console-exports` job (app.services.excel.jobs), its file
kept in storage under `storage_key` and downloaded only by the user who asked for it."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import LabelledEnum, UTCDateTime, str_enum, utcnow


class ExportStatus(LabelledEnum):
    PENDING = ("pending", "生成中")
    DONE = ("done", "已完成")
    FAILED = ("failed", "失败")


class ExportJob(db.Model):
    __tablename__ = "export_jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(sa.String(32))  # an app.services.excel.registry kind
    filters: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # the list's filter, checked
    status: Mapped[ExportStatus] = mapped_column(str_enum(ExportStatus, "export_status"),
                                                 default=ExportStatus.PENDING)
    row_count: Mapped[Optional[int]] = mapped_column()
    filename: Mapped[Optional[str]] = mapped_column(sa.String(200))
    storage_key: Mapped[Optional[str]] = mapped_column(sa.String(200))
    error: Mapped[Optional[str]] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.Index("ix_export_jobs_pending", "id", sqlite_where=sa.text("status = 'pending'"),
                 postgresql_where=sa.text("status = 'pending'")),
        sa.Index("ix_export_jobs_user", "user_id", "id"),
    )
