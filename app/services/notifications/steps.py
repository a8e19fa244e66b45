"""The dispatcher's hot-path statement (app.services.notifications.dispatch, "The hot path").

`STEP` records one message as sent and marks the next one as sending, each only while its
claim (`claimed_by`) is still the dispatcher's; `step` runs it for two claimed items
(`dispatch.Claimed`, either may be None) through an `execute` callable: `on_connection`
(an autocommit connection: one round trip) or `in_session` (the session, committed).
"""
from __future__ import annotations

import logging

import sqlalchemy as sa

from app.extensions import db
from app.models import DeliveryStatus, Notification
from app.models.base import utcnow

log = logging.getLogger("app.services.notifications.dispatch")


def lost(item, what: str) -> None:
    log.warning("notification %s: claim %s lost (lease over, taken by another "
                "dispatcher); %s not recorded", item.id, item.claim, what)


def _step_statement() -> sa.Update:
    """ONE statement for the common case: record message `done` as sent (if its claim is
    still ours) and mark message `mark` as sending (likewise). Either may be None. It
    returns the ids it changed, so the caller knows which claims were still ours. Built
    once: executing it costs no statement construction and hits the compiled cache."""
    t = Notification.__table__
    is_done = t.c.id == sa.bindparam("done", type_=sa.Integer)
    ours = sa.or_(sa.and_(is_done, t.c.claimed_by == sa.bindparam("done_claim", type_=sa.String)),
                  sa.and_(t.c.id == sa.bindparam("mark", type_=sa.Integer),
                          t.c.claimed_by == sa.bindparam("mark_claim", type_=sa.String)))

    def when_done(value, column):
        return sa.case((is_done, value), else_=column)
    return (t.update()
            .where(t.c.id.in_([sa.bindparam("done"), sa.bindparam("mark")]),  # the primary key
                   t.c.status == DeliveryStatus.SENDING, ours)
            .values(status=when_done(sa.literal(DeliveryStatus.SENT, t.c.status.type), t.c.status),
                    claimed_by=when_done(sa.null(), t.c.claimed_by),
                    lease_expires_at=when_done(sa.null(), t.c.lease_expires_at),
                    last_error=when_done(sa.null(), t.c.last_error),
                    wechat_msgid=when_done(sa.bindparam("msgid", type_=sa.String),
                                           t.c.wechat_msgid),
                    sent_at=sa.bindparam("now", type_=t.c.sent_at.type))
            .returning(t.c.id))


STEP = _step_statement()


def step(execute, done=None, msgid: str | None = None, mark=None) -> tuple[bool, bool]:
    """Run STEP through `execute(statement, params) -> changed ids` (autocommitted, or
    committed before it returns); whether `done` was recorded and whether `mark` was."""
    changed = execute(STEP, {
        "done": done.id if done else None, "done_claim": done.claim if done else None,
        "msgid": msgid, "mark": mark.id if mark else None,
        "mark_claim": mark.claim if mark else None, "now": utcnow()})
    recorded = done is not None and done.id in changed
    marked = mark is not None and mark.id in changed
    if done is not None and not recorded:
        lost(done, "outcome sent")
    if mark is not None and not marked:
        log.warning("notification %s: claim %s lost before sending; not sent", mark.id,
                    mark.claim)
    return recorded, marked


def in_session(statement, params) -> list:
    """`execute` for `step` through the session, committed (tests, `deliver`)."""
    changed = db.session.execute(statement, params).scalars().all()
    db.session.commit()
    return changed


def on_connection(connection: sa.Connection):
    """`execute` for `step` on an autocommit connection (`run`): one round trip."""
    return lambda statement, params: connection.execute(statement, params).scalars().all()
