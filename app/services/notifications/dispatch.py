"""The notification dispatcher: claim due rows, send them outside any transaction, record.

Any number of dispatchers may run. A claim is one UPDATE of a batch of due rows (`FOR
UPDATE SKIP LOCKED` on PostgreSQL, so workers never wait on or take each other's rows; on
SQLite the single statement is atomic). Claimed rows carry a lease: a dispatcher killed
mid-batch loses nothing, its rows return to the queue when the lease expires.

What an errcode means (docs/README.md, "WeChat"):
- 43101 the user has no subscribe credit left: inbox only, not retried;
- 40001/42001 invalid or expired token: the client refreshed it once already (app.wechat.client);
- 45009, 45011, -1, timeouts and anything unknown: retried with exponential backoff up to
  NOTIFY_MAX_ATTEMPTS, then failed with the reason;
- 40003, 47003, 41030 (bad openid, bad data, bad page): failed at once.
A subscribe credit is taken when the channel is chosen, once per message, and given back if
the message finally fails.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from wechatpy.exceptions import WeChatClientException

from app.extensions import db
from app.models import Channel, DeliveryStatus, Notification, SubscriptionCredit, User
from app.models.base import utcnow
from app.services.notifications import templates
from app.wechat import messages

log = logging.getLogger(__name__)

NO_CREDIT = {43101}
PERMANENT = {40003, 47003, 41030}


@dataclass
class Claimed:
    id: int
    channel: Channel
    openid: str
    template_id: str
    data: dict
    page: str
    attempts: int
    user_id: int
    template_key: str


@dataclass
class Stats:
    sent: int = 0
    inbox_only: int = 0
    retried: int = 0
    failed: int = 0
    batches: int = 0
    errors: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"sent": self.sent, "inbox_only": self.inbox_only, "retried": self.retried,
                "failed": self.failed, "batches": self.batches,
                "errcodes": {str(k): v for k, v in self.errors.items()}}


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


def release_expired_leases() -> int:
    """Rows whose dispatcher died (lease expired) go back to the queue. Caller commits."""
    return db.session.execute(
        sa.update(Notification)
        .where(Notification.status == DeliveryStatus.SENDING,
               Notification.lease_expires_at < utcnow())
        .values(status=DeliveryStatus.PENDING, claimed_by=None, lease_expires_at=None,
                next_attempt_at=utcnow())).rowcount


def claim(worker: str, batch_size: int, stats: Stats | None = None) -> tuple[list[Claimed], int]:
    """Take up to `batch_size` due rows and choose each one's channel (one transaction).

    Returns the rows to send and how many rows were taken (inbox-only rows are finished
    here, so the first can be empty while the queue is not)."""
    now = utcnow()
    lease = timedelta(seconds=current_app.config["NOTIFY_LEASE_SECONDS"])
    due = (sa.select(Notification.id)
           .where(Notification.status == DeliveryStatus.PENDING,
                  Notification.next_attempt_at <= now)
           .order_by(Notification.next_attempt_at, Notification.id)
           .limit(batch_size)
           .with_for_update(skip_locked=True))
    ids = list(db.session.scalars(
        sa.update(Notification).where(Notification.id.in_(due.scalar_subquery()))
        .values(status=DeliveryStatus.SENDING, claimed_by=worker, lease_expires_at=now + lease,
                attempts=Notification.attempts + 1)
        .returning(Notification.id)))
    if not ids:
        db.session.commit()
        return [], 0
    rows = db.session.execute(
        sa.select(Notification, User).join(User, Notification.user_id == User.id)
        .where(Notification.id.in_(ids)).order_by(Notification.id)).all()
    credits = _lock_credits({(user.id, row.template_key) for row, user in rows
                             if row.channel is None})
    claimed = []
    for row, user in rows:
        if row.channel is None:
            row.channel = _choose_channel(row, user, credits)
        if row.channel is Channel.INBOX:
            row.status, row.claimed_by, row.lease_expires_at = DeliveryStatus.INBOX_ONLY, None, None
            if stats is not None:
                stats.inbox_only += 1
            continue
        template = templates.get(row.template_key)
        claimed.append(Claimed(
            id=row.id, channel=row.channel, attempts=row.attempts, user_id=user.id,
            template_key=row.template_key,
            openid=user.openid if row.channel is Channel.SUBSCRIBE else user.mp_openid,
            template_id=templates.template_id(row.channel.value, row.template_key),
            data=templates.wechat_data(template, row.payload),
            page=templates.page(template, row.payload)))
    db.session.commit()
    return claimed, len(ids)


def _lock_credits(pairs: set[tuple[int, str]]) -> dict[tuple[int, str], SubscriptionCredit]:
    """The batch's credits, locked until the claim commits (one query, not one per row)."""
    if not pairs:
        return {}
    credit = SubscriptionCredit
    found = db.session.scalars(sa.select(credit).where(
        sa.tuple_(credit.user_id, credit.template_key).in_(sorted(pairs))).with_for_update())
    return {(c.user_id, c.template_key): c for c in found}


def _choose_channel(row: Notification, user: User, credits: dict) -> Channel:
    key = row.template_key
    credit = credits.get((user.id, key))
    if credit is not None and credit.remaining > 0 and templates.template_id("subscribe", key):
        credit.remaining -= 1  # one credit per message, flushed with the claim
        return Channel.SUBSCRIBE
    if user.mp_following and user.mp_openid and templates.template_id("template", key):
        return Channel.TEMPLATE
    return Channel.INBOX


def _credit_update(user_id: int, key: str, **values) -> None:
    db.session.execute(sa.update(SubscriptionCredit).where(
        SubscriptionCredit.user_id == user_id, SubscriptionCredit.template_key == key)
        .values(**values))


def _finish(row_id: int, status: DeliveryStatus, **values) -> None:
    table = Notification.__table__  # a plain Core update: this runs once per message
    db.session.execute(table.update().where(table.c.id == row_id).values(
        status=status, claimed_by=None, lease_expires_at=None, **values))


def deliver(item: Claimed, stats: Stats) -> None:
    """Send one claimed message (no transaction open), then record the outcome and commit."""
    try:
        if item.channel is Channel.SUBSCRIBE:
            msgid = messages.send_subscribe(item.openid, item.template_id, item.data, item.page)
        else:
            msgid = messages.send_template(item.openid, item.template_id, item.data, item.page,
                                           client_msg_id=f"linli-{item.id}")
    except WeChatClientException as exc:
        _record_failure(item, exc.errcode, str(exc.errmsg or exc.errcode)[:150], stats)
    else:
        _finish(item.id, DeliveryStatus.SENT, sent_at=utcnow(), wechat_msgid=msgid,
                last_error=None)
        stats.sent += 1
    db.session.commit()


def _record_failure(item: Claimed, errcode, reason: str, stats: Stats) -> None:
    config = current_app.config
    error = f"{errcode}: {reason}"
    stats.errors[errcode] = stats.errors.get(errcode, 0) + 1
    if errcode in NO_CREDIT:
        # WeChat says the user has no credit: trust it, keep the inbox entry only.
        _credit_update(item.user_id, item.template_key, remaining=0)
        _finish(item.id, DeliveryStatus.INBOX_ONLY, last_error=error)
        stats.inbox_only += 1
    elif errcode in PERMANENT or item.attempts >= config["NOTIFY_MAX_ATTEMPTS"]:
        if item.channel is Channel.SUBSCRIBE:  # not delivered: the credit is still the user's
            _credit_update(item.user_id, item.template_key,
                           remaining=SubscriptionCredit.remaining + 1)
        _finish(item.id, DeliveryStatus.FAILED, last_error=error)
        stats.failed += 1
        log.warning("notification %s failed for good: %s", item.id, error)
    else:
        delay = config["NOTIFY_BACKOFF_SECONDS"] * 2 ** (item.attempts - 1)
        _finish(item.id, DeliveryStatus.PENDING, last_error=error,
                next_attempt_at=utcnow() + timedelta(seconds=delay))
        stats.retried += 1


def release(ids: list[int]) -> None:
    """Give claimed rows back to the queue at once (a dispatcher stopping cleanly)."""
    if ids:
        db.session.execute(sa.update(Notification).where(
            Notification.id.in_(ids), Notification.status == DeliveryStatus.SENDING)
            .values(status=DeliveryStatus.PENDING, claimed_by=None, lease_expires_at=None))
        db.session.commit()


def run(stop: threading.Event | None = None, until_empty: bool = False,
        batch_size: int | None = None, idle_sleep: float = 1.0) -> Stats:
    """The dispatcher loop: until `stop` is set, or until the queue has nothing due."""
    stop = stop or threading.Event()
    worker = worker_name()
    batch_size = batch_size or current_app.config["NOTIFY_BATCH_SIZE"]
    stats = Stats()
    while not stop.is_set():
        if release_expired_leases():
            db.session.commit()
        batch, taken = claim(worker, batch_size, stats)
        if not taken:
            if until_empty:
                break
            stop.wait(idle_sleep)
            continue
        stats.batches += 1
        for index, item in enumerate(batch):
            if stop.is_set():
                release([i.id for i in batch[index:]])
                break
            deliver(item, stats)
    return stats


def drain(**kwargs) -> Stats:
    """Deliver everything due now (tests, `flask notifications dispatch --until-empty`)."""
    started = time.monotonic()
    stats = run(until_empty=True, **kwargs)
    log.info("dispatched %s in %.2fs", stats.as_dict(), time.monotonic() - started)
    return stats
