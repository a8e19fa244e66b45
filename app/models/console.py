"""The staff console: QR sign-in nonces, console sessions and the audit log of its writes.

A nonce and a session are stored as SHA-256 hashes only: the database never holds a value
that signs someone in. "Sign out everywhere" sets `revoked_at` on every open session row of
the user (one UPDATE)."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow
from app.models.users import User


class ConsoleNonce(db.Model):
    """One QR code shown on a console sign-in page: approved once from the mini-program,
    then consumed once by the browser that asked for it (`browser_hash`)."""

    __tablename__ = "console_nonces"
    id: Mapped[int] = mapped_column(primary_key=True)
    nonce_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    browser_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    approved_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    approved_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    consumed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    approved_by: Mapped[Optional[User]] = relationship()


class ConsoleSession(db.Model):
    """A signed-in browser. The cookie carries the session id (signed, with the time of the
    last request: the idle timeout); the row carries the absolute expiry and revocation."""

    __tablename__ = "console_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    sid_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    user_agent: Mapped[Optional[str]] = mapped_column(sa.String(200))
    user: Mapped[User] = relationship()


class ConsoleAudit(db.Model):
    """One console write: who, what (action and target), when, the state before and after."""

    __tablename__ = "console_audit"
    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(sa.String(64))
    target_kind: Mapped[str] = mapped_column(sa.String(32))
    target_id: Mapped[Optional[int]] = mapped_column()
    before: Mapped[Optional[dict]] = mapped_column(sa.JSON)
    after: Mapped[Optional[dict]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    __table_args__ = (sa.Index("ix_console_audit_target", "target_kind", "target_id"),)
