"""The notification dispatcher: claim due rows, send them outside any transaction, record.

Any number of dispatchers may run. A claim is one UPDATE of a batch of due rows (`FOR
UPDATE SKIP LOCKED` on PostgreSQL, so workers never wait on or take each other's rows; on
SQLite the single statement is atomic). Claimed rows carry a lease: a dispatcher killed
mid-batch loses nothing, its rows return to the queue when the lease expires.

A claim is the worker's name plus a random token (`claimed_by`), and an outcome is recorded
only while the row still carries it: a dispatcher whose lease ran out and whose rows went to
another cannot overwrite what that one records. A batch stops sending `send_margin()`
seconds before its lease ends and gives back what it had no time for. An exception that is
not WeChat's (a payload that no longer renders, a bug, a network error the client did not
turn into an errcode) is a retryable failure of that one row, never the end of the
dispatcher; a database error does end it (a supervisor restarts it).

A subscribe message spends the user's one-time credit, and WeChat has no dedupe id for it:
before its WeChat call the row is marked (`sent_at`, committed). A row left marked past its
lease belongs to a dispatcher that died during the call, and nobody knows whether WeChat
delivered it: it is recorded as sent, with the note "outcome unknown", and never sent again.
Template messages carry `client_msg_id`, so they are simply sent again (customer-service
messages too: WeChat has no dedupe for them, so each outcome is recorded before the next
send, never in bulk, and the window is one message as for the others).

The hot path is one statement per message (`steps.STEP`, autocommitted on a connection of the
dispatcher's own): message i's outcome and message i+1's sending mark (a subscribe message)
together. So a dispatcher still has at most one row marked and unanswered, exactly as when
each had its own commit; the stop and the lease are checked before a mark is made, never
between a mark and its call, so a marked row is always sent. Claims (Core statements, a
fixed number per batch), failures and releases go through the session; expired leases are
looked for every RELEASE_SECONDS (at most a quarter lease), not before every batch. The
access token comes from the token store's per-process cache (app.wechat.storage), not from
the database on every call.

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
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import SQLAlchemyError
from wechatpy.exceptions import WeChatClientException

from app.extensions import db
from app.models import Channel, DeliveryStatus, Notification, SubscriptionCredit, User
from app.models.base import utcnow
from app.services.notifications import templates
from app.services.notifications.steps import in_session, lost, on_connection, step
from app.wechat import messages
from app.wechat.bot import outbound as bot_outbound

log = logging.getLogger(__name__)

NO_CREDIT = {43101}
PERMANENT = {40003, 47003, 41030, 45047}  # 45047: customer-service quota, not retried
CS_OUTSIDE_WINDOW = 45015  # a customer-service message 48 h after the user's last message
PROGRESS_SECONDS = 60.0  # a running dispatcher's progress line, at most this often
RELEASE_SECONDS = 5.0  # expired leases are looked for this often (at most a quarter lease)
NO_USER = "no such user: not sent"
OUTCOME_UNKNOWN = ("outcome unknown: the dispatcher stopped during the WeChat call; "
                   "counted as sent, not sent again")


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
    claim: str = ""  # claimed_by as written by the claim: the worker and a random token
    lease_expires_at: datetime | None = None


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


def send_margin() -> float:
    """Seconds before its lease ends that a batch stops sending: room for one more send at
    its slowest (a token refresh and a retry, each up to WECHAT_TIMEOUT), at most half the
    lease."""
    config = current_app.config
    lease = config["NOTIFY_LEASE_SECONDS"]
    return min(lease / 2, max(lease / 5, 3 * config["WECHAT_TIMEOUT"] + 1))


def release_expired_leases() -> int:
    """Rows whose dispatcher died (lease expired): a subscribe message whose WeChat call had
    begun is recorded as sent, outcome unknown (not sent twice); the rest go back to the
    queue. Caller commits."""
    now, t = utcnow(), Notification.__table__
    expired = (t.c.status == DeliveryStatus.SENDING, t.c.lease_expires_at < now)
    unknown = db.session.execute(
        t.update().where(*expired, t.c.channel == Channel.SUBSCRIBE, t.c.sent_at.is_not(None))
        .values(status=DeliveryStatus.SENT, claimed_by=None, lease_expires_at=None,
                last_error=OUTCOME_UNKNOWN)).rowcount
    if unknown:
        log.warning("%d subscribe message(s) left mid-send by a dead dispatcher: counted as "
                    "sent, outcome unknown", unknown)
    return unknown + db.session.execute(
        t.update().where(*expired)
        .values(status=DeliveryStatus.PENDING, claimed_by=None, lease_expires_at=None,
                sent_at=None, next_attempt_at=now)).rowcount


def due(now: datetime, batch_size: int) -> sa.Select:
    """The next rows to claim: pending and due, oldest first, skipping rows another
    dispatcher is claiming. Read off the front of the partial index `ix_notifications_pending`
    (pending rows only, in this order), so a backlog of 100,000 costs a claim what a backlog
    of 100 does (bench/bench_dispatch.py shows the plan)."""
    return (sa.select(Notification.id)
            .where(Notification.status == DeliveryStatus.PENDING,
                   Notification.next_attempt_at <= now)
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True))


def claim(worker: str, batch_size: int, stats: Stats | None = None) -> tuple[list[Claimed], int]:
    """Take up to `batch_size` due rows and choose each one's channel (one transaction).

    Returns the rows to send and how many rows were taken (inbox-only rows are finished
    here, and a row whose payload does not render, or that names no user, is a failure of
    that row, so the first can be empty while the queue is not). Core statements, a fixed
    number per batch: the claim, its users, their credits (locked), then one UPDATE per
    chosen channel and per credit decrement."""
    stats = stats if stats is not None else Stats()
    now = utcnow()
    until = now + timedelta(seconds=current_app.config["NOTIFY_LEASE_SECONDS"])
    token = f"{worker[:47]}/{secrets.token_hex(8)}"  # claimed_by holds 64 characters
    t, u = Notification.__table__, User.__table__
    rows = sorted(db.session.execute(
        t.update().where(t.c.id.in_(due(now, batch_size).scalar_subquery()))
        .values(status=DeliveryStatus.SENDING, claimed_by=token, lease_expires_at=until,
                attempts=t.c.attempts + 1)
        .returning(t.c.id, t.c.user_id, t.c.template_key, t.c.payload, t.c.channel,
                   t.c.attempts)).all(), key=lambda row: row.id)
    if not rows:
        db.session.commit()
        return [], 0
    users = {user.id: user for user in db.session.execute(
        sa.select(u.c.id, u.c.openid, u.c.mp_openid, u.c.mp_following)
        .where(u.c.id.in_({row.user_id for row in rows})))}
    credits = _lock_credits({(row.user_id, row.template_key) for row in rows
                             if row.channel is None})
    left = dict(credits)
    chosen: dict[Channel, list[int]] = {}
    claimed, unrenderable, nobody = [], [], []
    for row in rows:
        user, channel = users.get(row.user_id), row.channel
        if user is None:  # no FOREIGN KEY since 0100: a row naming no user fails alone
            nobody.append(row.id)
            continue
        if channel is None or channel is Channel.INBOX:
            channel = channel or _choose_channel(row.template_key, user, left)
            chosen.setdefault(channel, []).append(row.id)
        if channel is Channel.INBOX:
            stats.inbox_only += 1
            continue
        item = Claimed(
            id=row.id, channel=channel, attempts=row.attempts, user_id=user.id,
            template_key=row.template_key,
            openid=user.openid if channel is Channel.SUBSCRIBE else user.mp_openid,
            template_id="", data={}, page="", claim=token, lease_expires_at=until)
        try:
            _render(item, row.payload)
        except Exception as exc:  # noqa: BLE001 - this row's payload, not the whole batch
            log.warning("notification %s does not render: %r", row.id, exc)
            unrenderable.append((item, exc))
            continue
        claimed.append(item)
    for channel, ids in chosen.items():
        inbox = {"status": DeliveryStatus.INBOX_ONLY, "claimed_by": None,
                 "lease_expires_at": None} if channel is Channel.INBOX else {}
        db.session.execute(t.update().where(t.c.id.in_(ids)).values(channel=channel, **inbox))
    taken: dict[int, list[tuple[int, str]]] = {}
    for pair, remaining in credits.items():
        if left[pair] != remaining:
            taken.setdefault(remaining - left[pair], []).append(pair)
    c = SubscriptionCredit.__table__
    for spent, pairs in taken.items():  # one credit per message, with the claim
        db.session.execute(c.update().where(sa.tuple_(c.c.user_id, c.c.template_key).in_(pairs))
                           .values(remaining=c.c.remaining - spent))
    for item, exc in unrenderable:
        _record_failure(item, "render", f"{type(exc).__name__}: {exc}"[:150], stats)
    if nobody:
        db.session.execute(t.update().where(t.c.id.in_(nobody)).values(
            status=DeliveryStatus.FAILED, claimed_by=None, lease_expires_at=None,
            last_error=NO_USER))
        stats.failed += len(nobody)
        log.warning("notifications %s name no user: failed", nobody)
    db.session.commit()
    return claimed, len(rows)


def _render(item: Claimed, payload: dict) -> None:
    template = templates.get(item.template_key)
    item.template_id = templates.template_id(item.channel.value, item.template_key)
    item.data = templates.wechat_data(template, payload)
    item.page = templates.page(template, payload)
    if item.channel is Channel.CUSTOMER_SERVICE:  # the bot's answer: its whole text
        item.data = {"text": templates.inbox_text(template, payload)}


def _lock_credits(pairs: set[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """The batch's credits left, locked until the claim commits (one query, not one per
    row)."""
    if not pairs:
        return {}
    c = SubscriptionCredit.__table__
    return {(row.user_id, row.template_key): row.remaining for row in db.session.execute(
        sa.select(c.c.user_id, c.c.template_key, c.c.remaining)
        .where(sa.tuple_(c.c.user_id, c.c.template_key).in_(sorted(pairs))).with_for_update())}


def _choose_channel(key: str, user, left: dict[tuple[int, str], int]) -> Channel:
    if left.get((user.id, key), 0) > 0 and templates.template_id("subscribe", key):
        left[(user.id, key)] -= 1  # one credit per message, written with the claim
        return Channel.SUBSCRIBE
    if user.mp_following and user.mp_openid and templates.template_id("template", key):
        return Channel.TEMPLATE
    return Channel.INBOX


def _credit_update(user_id: int, key: str, **values) -> None:
    db.session.execute(sa.update(SubscriptionCredit).where(
        SubscriptionCredit.user_id == user_id, SubscriptionCredit.template_key == key)
        .values(**values))


def _ours(item: Claimed):
    """The row, only while it still carries this claim (not released, not re-claimed)."""
    table = Notification.__table__
    return sa.and_(table.c.id == item.id, table.c.claimed_by == item.claim,
                   table.c.status == DeliveryStatus.SENDING)


def _finish(item: Claimed, status: DeliveryStatus, **values) -> bool:
    """Record the outcome if the claim is still ours; whether it was."""
    table = Notification.__table__  # a plain Core update
    done = db.session.execute(table.update().where(_ours(item)).values(
        status=status, claimed_by=None, lease_expires_at=None, **values)).rowcount
    if not done:
        lost(item, status.value)
    return bool(done)


def _call(item: Claimed, stats: Stats) -> tuple[bool, str | None]:
    """The WeChat call (no transaction open): (True, msgid) if WeChat took the message;
    otherwise the failure is recorded and committed here, and (False, None)."""
    try:
        if item.channel is Channel.SUBSCRIBE:
            return True, messages.send_subscribe(item.openid, item.template_id, item.data,
                                                 item.page)
        if item.channel is Channel.CUSTOMER_SERVICE:
            return True, bot_outbound.send_text(item.openid, item.data["text"])
        return True, messages.send_template(item.openid, item.template_id, item.data,
                                            item.page, client_msg_id=f"linli-{item.id}")
    except WeChatClientException as exc:
        _record_failure(item, exc.errcode, str(exc.errmsg or exc.errcode)[:150], stats)
    except SQLAlchemyError:
        raise  # the database (the token store): the dispatcher stops, its leases lapse
    except Exception as exc:  # noqa: BLE001 - not WeChat's answer: this row is retried
        log.warning("notification %s: %r while sending", item.id, exc)
        _record_failure(item, "error", f"{type(exc).__name__}: {exc}"[:150], stats)
    db.session.commit()
    return False, None


def deliver(item: Claimed, stats: Stats) -> None:
    """Send one claimed message on its own (no transaction open): mark it if it is a
    subscribe message (committed), send, record the outcome and commit. `send_batch` does
    the same with the next message's mark in the outcome's statement."""
    if item.channel is Channel.SUBSCRIBE and not step(in_session, mark=item)[1]:
        return
    ok, msgid = _call(item, stats)
    if ok and step(in_session, done=item, msgid=msgid)[0]:
        stats.sent += 1


def send_batch(batch: list[Claimed], stats: Stats, stop: threading.Event,
               execute=in_session) -> None:
    """Send a claimed batch in order, one statement per message in the common case: the
    outcome of message i and the sending mark of message i+1 (a subscribe message) go in
    one statement (`steps.STEP`), so at most one row of this dispatcher is ever marked and
    unanswered, as when each had its own commit. The stop and the lease are checked before
    a row's mark, never between its mark and its call: a marked row is always sent."""
    margin = send_margin()

    def may_start(item: Claimed) -> bool:
        return not stop.is_set() and not _out_of_time(item, margin)

    marked = skipped = None  # the next row's mark, made with the previous outcome: done, or lost
    for index, item in enumerate(batch):
        if item.id == skipped:
            continue
        if item.id != marked:
            if not may_start(item):
                release(batch[index:])
                return
            if item.channel is Channel.SUBSCRIBE and not step(execute, mark=item)[1]:
                continue
        ok, msgid = _call(item, stats)
        following = batch[index + 1] if index + 1 < len(batch) else None
        if not (ok and following is not None and following.channel is Channel.SUBSCRIBE
                and may_start(following)):
            following = None
        marked = skipped = None
        if ok:
            recorded, chained = step(execute, done=item, msgid=msgid, mark=following)
            stats.sent += recorded
            if following is not None:
                marked, skipped = (following.id, None) if chained else (None, following.id)


def _record_failure(item: Claimed, errcode, reason: str, stats: Stats) -> None:
    config = current_app.config
    error = f"{errcode}: {reason}"
    stats.errors[errcode] = stats.errors.get(errcode, 0) + 1
    # Not sent (WeChat said so): the sending mark goes, a later attempt sets its own.
    if errcode in NO_CREDIT:
        # WeChat says the user has no credit: trust it, keep the inbox entry only.
        if _finish(item, DeliveryStatus.INBOX_ONLY, last_error=error, sent_at=None):
            _credit_update(item.user_id, item.template_key, remaining=0)
            stats.inbox_only += 1
    elif errcode == CS_OUTSIDE_WINDOW and item.channel is Channel.CUSTOMER_SERVICE:
        # Outside the 48 hours: a template message when there is one for it, else the inbox.
        fallback = templates.template_id("template", item.template_key)
        if _finish(item, DeliveryStatus.PENDING if fallback else DeliveryStatus.INBOX_ONLY,
                   channel=Channel.TEMPLATE if fallback else Channel.INBOX, last_error=error,
                   sent_at=None, next_attempt_at=utcnow()):
            stats.retried += 1
    elif errcode in PERMANENT or item.attempts >= config["NOTIFY_MAX_ATTEMPTS"]:
        if not _finish(item, DeliveryStatus.FAILED, last_error=error, sent_at=None):
            return
        if item.channel is Channel.SUBSCRIBE:  # not delivered: the credit is still the user's
            _credit_update(item.user_id, item.template_key,
                           remaining=SubscriptionCredit.remaining + 1)
        stats.failed += 1
        log.warning("notification %s failed for good: %s", item.id, error)
    else:
        delay = config["NOTIFY_BACKOFF_SECONDS"] * 2 ** (item.attempts - 1)
        if _finish(item, DeliveryStatus.PENDING, last_error=error, sent_at=None,
                   next_attempt_at=utcnow() + timedelta(seconds=delay)):
            stats.retried += 1


def release(items: list[Claimed]) -> None:
    """Give claimed rows back to the queue at once (a dispatcher stopping cleanly, a batch
    out of time), those still ours."""
    for claim in {item.claim for item in items}:
        db.session.execute(sa.update(Notification).where(
            Notification.id.in_([item.id for item in items if item.claim == claim]),
            Notification.claimed_by == claim, Notification.status == DeliveryStatus.SENDING)
            .values(status=DeliveryStatus.PENDING, claimed_by=None, lease_expires_at=None))
    if items:
        db.session.commit()


def _out_of_time(item: Claimed, margin: float | None = None) -> bool:
    """Whether the claim's lease is too close to its end to start another send."""
    return item.lease_expires_at is not None and utcnow() >= item.lease_expires_at - \
        timedelta(seconds=send_margin() if margin is None else margin)


def run(stop: threading.Event | None = None, until_empty: bool = False,
        batch_size: int | None = None, idle_sleep: float = 1.0,
        progress_seconds: float = PROGRESS_SECONDS) -> Stats:
    """The dispatcher loop: until `stop` is set, or until the queue has nothing due.

    While it runs it logs its counts so far at most every `progress_seconds`, and only when
    it has done something since the last line (an idle dispatcher stays quiet); a
    long-running one (not `until_empty`) also logs when it starts and stops."""
    stop = stop or threading.Event()
    worker = worker_name()
    batch_size = batch_size or current_app.config["NOTIFY_BATCH_SIZE"]
    release_every = min(RELEASE_SECONDS, current_app.config["NOTIFY_LEASE_SECONDS"] / 4)
    stats = Stats()
    started = last_line = time.monotonic()
    logged = stats.as_dict()
    if not until_empty:
        log.info("dispatcher %s started, %d notifications a batch", worker, batch_size)
    # The hot path's statements (steps.STEP) autocommit on a connection of their own: one round
    # trip each, no BEGIN or COMMIT. Claims, failures and releases use the session.
    with db.engine.connect() as connection:
        execute = on_connection(connection.execution_options(isolation_level="AUTOCOMMIT"))
        next_release = 0.0
        while not stop.is_set():
            if time.monotonic() >= next_release:  # dead dispatchers' rows: not every batch
                if release_expired_leases():
                    db.session.commit()
                next_release = time.monotonic() + release_every
            batch, taken = claim(worker, batch_size, stats)
            if not taken:
                if until_empty:
                    break
                stop.wait(idle_sleep)
            else:
                stats.batches += 1
                send_batch(batch, stats, stop, execute)
            now = time.monotonic()
            if now - last_line >= progress_seconds and stats.as_dict() != logged:
                logged, last_line = stats.as_dict(), now
                log.info("dispatcher %s after %.0fs: %s", worker, now - started, logged)
    if not until_empty:
        log.info("dispatcher %s stopped after %.0fs: %s", worker, time.monotonic() - started,
                 stats.as_dict())
    return stats


def drain(**kwargs) -> Stats:
    """Deliver everything due now (tests, `flask notifications dispatch --until-empty`)."""
    started = time.monotonic()
    stats = run(until_empty=True, **kwargs)
    log.info("dispatched %s in %.2fs", stats.as_dict(), time.monotonic() - started)
    return stats
