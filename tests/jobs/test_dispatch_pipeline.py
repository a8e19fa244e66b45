"""The dispatcher's pipelined steps: message i's outcome and message i+1's sending mark go in
one statement. A dispatcher dying between two steps leaves exactly one row in the unknown
state and loses nothing; a stop or a lost claim between them never marks a row that is not
then sent."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.models import DeliveryStatus, Notification, SubscriptionCredit
from app.models.base import utcnow
from app.services.notifications import dispatch
from app.services.notifications.outbox import notify
from app.wechat import messages

DIGEST = {"open": 3, "overdue": 1, "summary": "楼道灯坏了", "at": "2026-11-22T00:00:00+00:00"}


class Killed(BaseException):
    """The process dies (SIGKILL) while WeChat has the request."""


def queue_three(make_user):
    user = make_user("u", credits={"work_digest": 3})
    for n in range(3):
        assert notify(user, "work_digest", {**DIGEST, "summary": f"第{n}条"}, dedupe_key=f"p{n}")
    db.session.commit()
    return user


def rows() -> list[Notification]:
    db.session.expire_all()
    found = db.session.scalars(sa.select(Notification).order_by(Notification.id)).all()
    db.session.commit()
    return found


def credit(user) -> int:
    value = db.session.scalar(sa.select(SubscriptionCredit.remaining).where(
        SubscriptionCredit.user_id == user.id))
    db.session.commit()
    return value


def summaries(sent) -> list[str]:
    return [m["body"]["data"]["thing1"]["value"] for m in sent("subscribe")]


def test_killed_between_two_pipelined_steps_leaves_one_unknown_row_and_loses_nothing(
        app, make_user, monkeypatch, sent):
    user = queue_three(make_user)
    real, calls = messages.send_subscribe, []

    def second_call_dies(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:  # its mark went in the statement that recorded the first
            raise Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(messages, "send_subscribe", second_call_dies)
    with pytest.raises(Killed):
        dispatch.drain()
    monkeypatch.undo()
    first, second, third = rows()
    assert first.status is DeliveryStatus.SENT and first.wechat_msgid and first.claimed_by is None
    assert second.status is DeliveryStatus.SENDING and second.sent_at is not None
    assert third.status is DeliveryStatus.SENDING and third.sent_at is None  # never marked
    assert sum(r.status is DeliveryStatus.SENDING and r.sent_at is not None
               for r in (first, second, third)) == 1
    with time_machine.travel(utcnow() + timedelta(seconds=app.config["NOTIFY_LEASE_SECONDS"] + 1)):
        stats = dispatch.drain()
    assert stats.sent == 1
    first, second, third = rows()
    assert [r.status for r in (first, second, third)] == [DeliveryStatus.SENT] * 3
    assert second.last_error.startswith("outcome unknown") and third.last_error is None
    assert summaries(sent) == ["第0条", "第2条"]  # each once; the unknown one not again
    assert credit(user) == 0


def test_each_message_costs_one_statement_after_the_first(make_user, sent):
    queue_three(make_user)
    steps = []

    def count(_conn, _cursor, statement, *_args):
        if statement.startswith("UPDATE notifications SET status=CASE"):
            steps.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        stats = dispatch.drain()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert stats.sent == 3 and len(sent("subscribe")) == 3
    assert len(steps) == 4  # the first one's mark, then one outcome (+ next mark) each
    assert all(r.status is DeliveryStatus.SENT and r.sent_at for r in rows())


def test_a_claim_lost_before_its_pipelined_mark_is_not_sent(make_user, monkeypatch, sent):
    queue_three(make_user)
    real = messages.send_subscribe
    second_id = rows()[1].id

    def send_then_lose_the_next(*args, **kwargs):
        result = real(*args, **kwargs)
        if len(sent("subscribe")) == 1:  # another dispatcher takes the second row meanwhile
            db.session.execute(sa.update(Notification).where(Notification.id == second_id)
                               .values(claimed_by="other-worker/token"))
            db.session.commit()
        return result

    monkeypatch.setattr(messages, "send_subscribe", send_then_lose_the_next)
    stats = dispatch.drain()
    assert stats.sent == 2
    assert summaries(sent) == ["第0条", "第2条"]
    taken = rows()[1]
    assert taken.status is DeliveryStatus.SENDING and taken.claimed_by == "other-worker/token"
    assert taken.sent_at is None  # not marked by the first dispatcher: the other one sends it


def test_a_stop_during_a_call_marks_no_next_row_and_gives_the_rest_back(
        app, make_user, monkeypatch, sent):
    queue_three(make_user)
    real, stop = messages.send_subscribe, threading.Event()

    def send_and_stop(*args, **kwargs):
        stop.set()  # SIGTERM while WeChat has the first message
        return real(*args, **kwargs)

    monkeypatch.setattr(messages, "send_subscribe", send_and_stop)
    stats = dispatch.run(stop=stop, until_empty=True)
    assert stats.sent == 1 and summaries(sent) == ["第0条"]
    first, *rest = rows()
    assert first.status is DeliveryStatus.SENT
    assert all(r.status is DeliveryStatus.PENDING and r.sent_at is None and r.claimed_by is None
               for r in rest)
    monkeypatch.undo()
    assert dispatch.drain().sent == 2 and summaries(sent) == ["第0条", "第1条", "第2条"]
