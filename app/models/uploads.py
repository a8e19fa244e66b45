"""Uploaded images. The record they are attached to decides who else may see them."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, utcnow


class Upload(db.Model):
    __tablename__ = "uploads"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    storage_key: Mapped[str] = mapped_column(sa.String(128), unique=True)
    content_type: Mapped[str] = mapped_column(sa.String(32))
    size: Mapped[int] = mapped_column()
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    # What the image is attached to, e.g. ("incident", 12); set by the feature that uses it.
    ref_kind: Mapped[Optional[str]] = mapped_column(sa.String(32))
    ref_id: Mapped[Optional[int]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (sa.Index("ix_uploads_ref", "ref_kind", "ref_id"),)
