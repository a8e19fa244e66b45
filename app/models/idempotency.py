"""Stored responses for `Idempotency-Key` requests (one row per user and key)."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, utcnow


class IdempotencyRecord(db.Model):
    __tablename__ = "idempotency_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(sa.String(128))
    # method + path + body hash: the same key reused for another request is refused.
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[Optional[int]] = mapped_column()  # None while the first is running
    response_body: Mapped[Optional[str]] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    __table_args__ = (sa.UniqueConstraint("user_id", "key"),)
