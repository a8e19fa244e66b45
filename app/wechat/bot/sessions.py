"""Conversation state: one `BotSession` row per follower, locked for each message.

`lock(openid)` inserts the row if missing (race-safe) and takes its row lock (`SELECT …
FOR UPDATE` on PostgreSQL; SQLite's write lock serialises writers anyway), so two messages
of one follower are handled one after the other and never interleave steps. A flow idle for
`BOT_SESSION_IDLE_MINUTES` (10) is over: the next message starts afresh.

Helpers here flush, never commit: they run inside the inbound handling's transaction.
"""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.models import BotSession, User
from app.models.base import utcnow
from app.services.common import insert_or_get

# The session row locked, with its bound user read in the same query.
_LOCK = (sa.select(BotSession, User).outerjoin(User, User.id == BotSession.user_id)
         .where(BotSession.openid == sa.bindparam("openid"))
         .with_for_update(of=BotSession).execution_options(populate_existing=True))


def lock(openid: str) -> tuple[BotSession, User | None, bool]:
    """The follower's session row, locked; the user it is bound to (None: not bound yet);
    and whether its flow had expired (now reset). A follower's first message inserts the
    row first (race-safe). The caller marks it seen (`last_seen_at`)."""
    found = db.session.execute(_LOCK, {"openid": openid}).first()
    if found is None:
        insert_or_get(BotSession, openid=openid, init=lambda row: _blank(row))
        found = db.session.execute(_LOCK, {"openid": openid}).one()
    session, user = found
    expired = session.flow is not None and session.expires_at is not None \
        and session.expires_at <= utcnow()
    if expired:
        end(session)
    return session, user, expired


def _blank(row: BotSession) -> None:
    row.following, row.data, row.misunderstood, row.version = True, {}, 0, 0


def start(session: BotSession, flow: str, step: str, data: dict | None = None) -> None:
    session.flow, session.data, session.misunderstood = flow, dict(data or {}), 0
    go(session, step)


def go(session: BotSession, step: str, **data) -> None:
    """Move to `step` (in the current flow), merging `data`; the idle clock restarts."""
    session.step = step
    if data:
        session.data = {**(session.data or {}), **data}
    session.misunderstood = 0
    session.version += 1
    session.expires_at = utcnow() + timedelta(minutes=current_app.config["BOT_SESSION_IDLE_MINUTES"])


def end(session: BotSession) -> None:
    session.flow = session.step = None
    session.data, session.misunderstood, session.expires_at = {}, 0, None
    session.version += 1
