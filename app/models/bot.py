"""The official-account bot: followers and their conversation state, inbound dedupe, the
办事指南 catalog with its gaps, and hand-off tickets to a person.

- `BotSession`: one row per official-account follower (openid), kept for good: who they are
  (the mini-program user joined by unionid, the compound a parametric QR code pre-selected,
  whether they follow) and the conversation in progress (flow, step, data, expiring after
  10 idle minutes). Every inbound message locks this row first (`SELECT … FOR UPDATE`), so
  a text and a photo arriving together never interleave steps.
- `BotInbound`: one row per message or event WeChat delivered, unique by its dedupe key
  (messages by (FromUserName, MsgId), events by (FromUserName, CreateTime, Event,
  EventKey)), written in the same transaction as its handling: a retry finds it and
  changes nothing. A deferred one (`queued`) carries what its later handling needs.
- `GuideEntry` (办事指南), `GuideGap` (questions nobody could answer), `BotTicket` (人工).
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import LabelledEnum, UTCDateTime, Versioned, str_enum, utcnow

TITLE_MAX = 60
ANSWER_MAX = 2000
QUESTION_MAX = 300


class InboundStatus(LabelledEnum):
    DONE = ("done", "已处理")
    QUEUED = ("queued", "待处理")  # answered `success`; the answer goes as a customer-service message
    FAILED = ("failed", "处理失败")


class TicketStatus(LabelledEnum):
    OPEN = ("open", "待答复")
    ANSWERED = ("answered", "已答复")


class BotSession(db.Model):
    __tablename__ = "bot_sessions"
    openid: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    unionid: Mapped[Optional[str]] = mapped_column(sa.String(64), index=True)
    user_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"), index=True)
    compound_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("compounds.id"))
    following: Mapped[bool] = mapped_column(default=True)
    flow: Mapped[Optional[str]] = mapped_column(sa.String(32))
    step: Mapped[Optional[str]] = mapped_column(sa.String(32))
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    misunderstood: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BotInbound(db.Model):
    __tablename__ = "bot_inbound"
    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    openid: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(32))  # text, image, event:subscribe, ...
    status: Mapped[InboundStatus] = mapped_column(str_enum(InboundStatus, "inbound_status"))
    payload: Mapped[Optional[dict]] = mapped_column(sa.JSON)  # a queued message's fields
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    handled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    __table_args__ = (
        # The deferred queue (and its recovery job): queued rows, oldest first.
        sa.Index("ix_bot_inbound_queue", "status", "created_at"),
    )


class GuideEntry(Versioned, db.Model):
    """One 办事指南 item: what to bring, when, where, who owns it."""

    __tablename__ = "guide_entries"
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(TITLE_MAX))
    synonyms: Mapped[list] = mapped_column(sa.JSON, default=list)
    answer: Mapped[str] = mapped_column(sa.Text)
    materials: Mapped[Optional[str]] = mapped_column(sa.Text)
    hours: Mapped[Optional[str]] = mapped_column(sa.String(120))
    place: Mapped[Optional[str]] = mapped_column(sa.String(120))
    department: Mapped[Optional[str]] = mapped_column(sa.String(60))
    updated_on: Mapped[date] = mapped_column(sa.Date)
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (sa.UniqueConstraint("community_id", "title"),)


class GuideGap(db.Model):
    """A question the catalog could not answer confidently, for staff to fill."""

    __tablename__ = "guide_gaps"
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("communities.id"))
    question: Mapped[str] = mapped_column(sa.String(QUESTION_MAX))
    best_entry_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("guide_entries.id", ondelete="SET NULL"))
    score: Mapped[float] = mapped_column(sa.Float, default=0.0)
    resolved: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (sa.Index("ix_guide_gaps_community", "community_id", "resolved", "id"),)


class BotTicket(db.Model):
    """人工: a follower's question for a person; the answer goes back as a customer-service
    message (through the outbox) when the follower is bound, else at their next message."""

    __tablename__ = "bot_tickets"
    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(sa.String(64), index=True)
    user_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    community_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("communities.id"))
    question: Mapped[str] = mapped_column(sa.String(QUESTION_MAX))
    status: Mapped[TicketStatus] = mapped_column(str_enum(TicketStatus, "ticket_status"),
                                                 default=TicketStatus.OPEN)
    answer: Mapped[Optional[str]] = mapped_column(sa.String(ANSWER_MAX))
    answered_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    answered_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    delivered: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (sa.Index("ix_bot_tickets_queue", "community_id", "status", "id"),)
