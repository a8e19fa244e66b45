"""The notification outbox, subscribe-message credits, and the scheduler's bookkeeping.

A `Notification` row is written in the same transaction as the change it reports (a rolled
back change sends nothing); dispatchers deliver it later. Every row is also the user's
in-app inbox entry, whatever happens on WeChat.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import LabelledEnum, UTCDateTime, str_enum, utcnow
from app.models.users import User


class DeliveryStatus(LabelledEnum):
    PENDING = ("pending", "待发送")
    SENDING = ("sending", "发送中")
    SENT = ("sent", "已发送")
    INBOX_ONLY = ("inbox_only", "仅站内信")  # no WeChat channel (no credit, not a follower)
    FAILED = ("failed", "发送失败")


class Channel(LabelledEnum):
    SUBSCRIBE = ("subscribe", "小程序订阅消息")
    TEMPLATE = ("template", "公众号模板消息")
    INBOX = ("inbox", "站内信")
    CUSTOMER_SERVICE = ("customer_service", "公众号客服消息")  # the bot's deferred answers


class Notification(db.Model):
    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    # A users id with no FOREIGN KEY (migration 0100): users are never deleted and every
    # writer names an existing user, so the per-row check only slowed the big batches.
    user_id: Mapped[int] = mapped_column()
    template_key: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[dict] = mapped_column(sa.JSON)
    # The same reminder can never be queued twice: callers name it, e.g. "sla:12:respond".
    dedupe_key: Mapped[str] = mapped_column(sa.String(160), unique=True)
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING)
    channel: Mapped[Optional[Channel]] = mapped_column(str_enum(Channel, "channel"))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_expires_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    claimed_by: Mapped[Optional[str]] = mapped_column(sa.String(64))
    last_error: Mapped[Optional[str]] = mapped_column(sa.String(200))
    wechat_msgid: Mapped[Optional[str]] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    read_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    user: Mapped[User] = relationship(primaryjoin="foreign(Notification.user_id) == User.id",
                                      viewonly=True)
    __table_args__ = (
        # What is still to send, in the dispatchers' claim order: only pending rows, so a
        # claim reads its batch off the front whatever the backlog (rows queued by one
        # notify_many share next_attempt_at: `id` orders them without a sort).
        sa.Index("ix_notifications_pending", "next_attempt_at", "id",
                 postgresql_where=sa.text("status = 'pending'"),
                 sqlite_where=sa.text("status = 'pending'")),
        # Rows past pending, by status: claims in flight whose lease ran out, finished rows
        # to prune. A new row is pending, so queueing one does not write this index.
        sa.Index("ix_notifications_queue", "status", "next_attempt_at",
                 postgresql_where=sa.text("status <> 'pending'"),
                 sqlite_where=sa.text("status <> 'pending'")),
        # The inbox: a user's rows, newest first.
        sa.Index("ix_notifications_inbox", "user_id", "id"),
    )


class SubscriptionCredit(db.Model):
    """One-time subscribe-message credits a user granted for a template (wx.requestSubscribeMessage)."""

    __tablename__ = "subscription_credits"
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    template_key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    remaining: Mapped[int] = mapped_column(default=0)
    accepted_total: Mapped[int] = mapped_column(default=0)
    rejected_total: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    __table_args__ = (sa.CheckConstraint("remaining >= 0", name="remaining_not_negative"),)


class SchedulerLease(db.Model):
    """Who runs the scheduled jobs: one holder at a time, renewed while alive."""

    __tablename__ = "scheduler_leases"
    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class JobRun(db.Model):
    """One run of a scheduled job: when, by whom, how long, what it did."""

    __tablename__ = "job_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(sa.String(64))
    holder: Mapped[str] = mapped_column(sa.String(128))
    dry_run: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    duration_ms: Mapped[Optional[int]] = mapped_column()
    ok: Mapped[Optional[bool]] = mapped_column()
    result: Mapped[Optional[dict]] = mapped_column(sa.JSON)
    __table_args__ = (sa.Index("ix_job_runs_job_started", "job_id", "started_at"),)
