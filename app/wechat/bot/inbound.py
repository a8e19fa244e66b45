"""One delivery from WeChat, handled once: the dedupe row and the handling commit together.

`receive(message, unionid, started)`:
1. locks the follower's session row (app.wechat.bot.sessions): every delivery of one
   follower, a retry included, waits here for the one before it to commit (a retry of one
   already committed is answered before that, by the callback's `first_look`);
2. inserts the delivery's dedupe row (`BotInbound`) and routes the message
   (app.wechat.bot.router), in the same transaction, which commits both or neither. A
   unique violation of the dedupe key (a retry of something already handled or queued: a
   copy that held the lock before, or a racing writer the lock did not cover) rolls
   everything back and answers `success` with nothing changed.

The callback looks first (`first_look`, no lock): a retry of a delivery whose handling
committed is answered at once, and a follower whose unionid is not known yet is looked up
at WeChat before the transaction starts.

A step that must call WeChat (a photo's download, a report's content check) marks the row
`queued` with what it needs: the callback answers `success` at once and
app.wechat.bot.deferred answers later by customer-service message. A passive answer that
is ready only after `BOT_REPLY_SECONDS` (about 4 of WeChat's 5) is sent the same way.

Lock order: the session row, then (rarely, when binding changes) the user row. A deferred
filing locks the reporter's user row before the session row; the two only meet when a
follower's binding changes mid-filing, and PostgreSQL's deadlock detection then fails one,
which WeChat (a retry) or the recovery job (a queued row) runs again.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import BotInbound, BotSession, BotTicket, User
from app.models.base import utcnow
from app.models.bot import InboundStatus, TicketStatus
from app.wechat.bot import binding, deliver, router, sessions
from app.wechat.bot.wire import Inbound


@dataclass
class Turn:
    """One message being handled: what the dialogs read and write."""

    message: Inbound
    session: BotSession
    inbound: BotInbound
    user: User | None
    expired: bool = False  # the follower's previous flow timed out just now

    def defer(self, task: str, **extra) -> None:
        """Handle this message later (answered `success` now), with what the task needs."""
        self.inbound.status = InboundStatus.QUEUED
        self.inbound.handled_at = None
        self.inbound.payload = {"task": task, "version": self.session.version,
                                **self.message.fields(), **extra}


@dataclass
class Outcome:
    reply: str | None  # a passive text reply; None: `success`
    deferred: int | None = None  # a queued inbound row to run now
    duplicate: bool = False


_FIRST_LOOK = sa.select(
    sa.select(BotInbound.id).where(BotInbound.dedupe_key == sa.bindparam("key")).exists(),
    sa.func.coalesce(sa.select(BotSession.unionid).where(
        BotSession.openid == sa.bindparam("openid")).scalar_subquery(), "") != "")


def first_look(message: Inbound) -> tuple[bool, bool]:
    """In one query, without a lock: whether this delivery was handled (or queued) already
    (a retry after the first committed), and whether the follower's unionid is known. Not
    seen is checked again under the lock, by the dedupe row's insert: a copy still running
    commits first."""
    seen, known = db.session.execute(
        _FIRST_LOOK, {"key": message.dedupe_key, "openid": message.openid}).one()
    return bool(seen), bool(known)


def receive(message: Inbound, unionid: str | None, started: float) -> Outcome:
    session, user, expired = sessions.lock(message.openid)
    inbound = BotInbound(dedupe_key=message.dedupe_key, openid=message.openid,
                         kind=(f"event:{message.event}" if message.kind == "event"
                               else message.kind)[:32],
                         status=InboundStatus.DONE, handled_at=utcnow(), attempts=0)
    db.session.add(inbound)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return Outcome(None, duplicate=True)
    user = binding.link(session, unionid, user)
    turn = Turn(message, session, inbound, user, expired)
    reply = router.route(turn)
    if reply and user is None:
        reply = _with_answers(session.openid, reply)
    if reply and user is not None and session.following and \
            time.monotonic() - started > current_app.config["BOT_REPLY_SECONDS"]:
        deliver.queue_reply(user, f"bot:{inbound.id}:late", reply)  # too late to answer passively
        reply = None
    deferred = inbound.id if inbound.status is InboundStatus.QUEUED else None
    session.last_seen_at = utcnow()  # last: no query flushes it early, one UPDATE of the row
    db.session.commit()
    return Outcome(reply, deferred)


def _with_answers(openid: str, reply: str) -> str:
    """An unbound follower has no inbox: staff answers to their tickets come with their next
    message (bound followers get them as customer-service messages)."""
    tickets = list(db.session.scalars(sa.select(BotTicket).where(
        BotTicket.openid == openid, BotTicket.status == TicketStatus.ANSWERED,
        BotTicket.delivered.is_(False)).order_by(BotTicket.id).limit(3)))
    if not tickets:
        return reply
    for ticket in tickets:
        ticket.delivered = True
    answers = "\n".join(f"您的问题“{t.question[:20]}”答复：{t.answer}" for t in tickets)
    return f"{answers}\n\n{reply}"
