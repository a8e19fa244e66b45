"""Shared WeChat access-token storage, so several workers never invalidate each other."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime


class WeChatToken(db.Model):
    __tablename__ = "wechat_tokens"
    key: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    value: Mapped[str] = mapped_column(sa.Text)
    expires_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
