"""The dispatcher when things go wrong around a send: a claim lost to another dispatcher, a
lease running out mid-batch, a payload that will not render, an exception that is not
WeChat's, and a dispatcher that died during a subscribe message's WeChat call.

(Real processes killed mid-send: tests/jobs/test_processes.py.)"""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.models import Channel, DeliveryStatus, Notification, SubscriptionCredit
from app.models.base import utcnow
from app.services.notifications import dispatch
from app.services.notifications.outbox import notify
from app.wechat import messages

DIGEST = {"open": 3, "overdue": 1, "summary": "楼道灯坏了", "at": "2026-11-22T00:00:00+00:00"}
SEND_SUBSCRIBE = "cgi-bin/message/subscribe/send"
SEND_TEMPLATE = "cgi-bin/message/template/send"


def queue(user, key: str) -> None:
    assert notify(user, "work_digest", DIGEST, dedupe_key=key)
    db.session.commit()


def row(key: str) -> Notification:
    db.session.expire_all()
    found = db.session.scalar(sa.select(Notification).where(Notification.dedupe_key == key))
    db.session.commit()
    return found


def credit(user) -> int:
    db.session.expire_all()
    value = db.session.scalar(sa.select(SubscriptionCredit.remaining).where(
        SubscriptionCredit.user_id == user.id))
    db.session.commit()
    return value


def test_a_claim_lost_to_another_dispatcher_is_not_finished_by_the_first(app, make_user, sent):
    worker = make_user("worker", follower=True)
    queue(worker, "t1")
    [first], _ = dispatch.claim("slow-worker", 5)
    lease = timedelta(seconds=app.config["NOTIFY_LEASE_SECONDS"] + 1)
    with time_machine.travel(utcnow() + lease):
        assert dispatch.release_expired_leases() == 1
        db.session.commit()
        # The same worker name claims it again: only the claim token tells the claims apart.
        [second], _ = dispatch.claim("slow-worker", 5)
        holder = row("t1").claimed_by
        stats = dispatch.Stats()
        dispatch.deliver(first, stats)  # the first claim wakes up and sends
    assert stats.sent == 0
    lost = row("t1")
    assert lost.status is DeliveryStatus.SENDING and lost.claimed_by == holder
    assert holder.startswith("slow-worker")
    with time_machine.travel(utcnow() + lease):
        dispatch.deliver(second, stats)
    assert stats.sent == 1 and row("t1").status is DeliveryStatus.SENT
    assert len(sent("template")) == 1  # WeChat dropped the repeat (client_msg_id)


def test_a_subscribe_message_is_not_sent_on_a_lost_claim(app, make_user, sandbox, sent):
    user = make_user("u", credits={"work_digest": 1})
    queue(user, "s1")
    [first], _ = dispatch.claim("slow-worker", 5)
    lease = timedelta(seconds=app.config["NOTIFY_LEASE_SECONDS"] + 1)
    with time_machine.travel(utcnow() + lease):
        dispatch.release_expired_leases()
        db.session.commit()
        [second], _ = dispatch.claim("other-worker", 5)
        dispatch.deliver(first, dispatch.Stats())
        assert sent("subscribe") == []  # its claim was gone: it never called WeChat
        dispatch.deliver(second, dispatch.Stats())
    assert len(sent("subscribe")) == 1 and row("s1").status is DeliveryStatus.SENT
    assert credit(user) == 0


def test_a_batch_stops_sending_before_its_lease_ends(app, make_user, monkeypatch, sent):
    worker = make_user("worker", follower=True)
    for i in range(5):
        queue(worker, f"b{i}")
    lease = app.config["NOTIFY_LEASE_SECONDS"]
    real = messages.send_template
    sends = []
    with time_machine.travel(utcnow(), tick=False) as clock:
        def slow_send(openid, template_id, data, page, client_msg_id=None):
            notification_id = int(client_msg_id.removeprefix("linli-"))
            expires = db.session.scalar(sa.select(Notification.lease_expires_at).where(
                Notification.id == notification_id))
            db.session.commit()
            sends.append((utcnow(), expires))
            clock.shift(lease / 3)  # each send takes a third of the lease
            return real(openid, template_id, data, page, client_msg_id=client_msg_id)

        monkeypatch.setattr(messages, "send_template", slow_send)
        stats = dispatch.drain()
    assert stats.sent == 5 and len(sent("template")) == 5
    assert stats.batches >= 2  # the first batch gave back what it had no time left for
    assert all(at < expires for at, expires in sends), sends
    margin = timedelta(seconds=dispatch.send_margin())
    assert all(expires - at >= margin for at, expires in sends), sends
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.status != DeliveryStatus.SENT)) == 0


def test_a_row_naming_no_user_fails_at_once_and_stops_nothing(make_user, sent):
    # notifications.user_id has no FOREIGN KEY (migration 0100): a row can name nobody.
    user = make_user("u", credits={"work_digest": 2})
    queue(user, "good-1")
    db.session.add(Notification(user_id=user.id + 1000, template_key="work_digest",
                                payload=DIGEST, dedupe_key="nobody"))
    db.session.commit()
    queue(user, "good-2")
    stats = dispatch.drain()  # neither crashes nor leaves the row to come back every lease
    assert stats.sent == 2 and stats.failed == 1 and len(sent("subscribe")) == 2
    orphan = row("nobody")
    assert orphan.status is DeliveryStatus.FAILED and orphan.claimed_by is None
    assert orphan.last_error == dispatch.NO_USER and orphan.channel is None
    assert credit(user) == 0
    assert dispatch.drain().as_dict()["failed"] == 0  # not claimed again


def test_a_payload_that_will_not_render_fails_that_row_only(app, make_user, sent):
    user = make_user("u", credits={"work_digest": 3})
    queue(user, "good-1")
    # Queued before a template change: this payload no longer renders.
    db.session.add(Notification(user_id=user.id, template_key="work_digest",
                                payload={**DIGEST, "at": "not a time"}, dedupe_key="broken"))
    db.session.commit()
    queue(user, "good-2")
    stats = dispatch.drain()  # does not stop at the broken row
    assert stats.sent == 2 and len(sent("subscribe")) == 2
    broken = row("broken")
    assert broken.status is DeliveryStatus.PENDING and broken.attempts == 1
    assert broken.last_error.startswith("render: ValueError")
    assert broken.next_attempt_at > utcnow()
    moment = utcnow()
    for _ in range(app.config["NOTIFY_MAX_ATTEMPTS"] + 1):
        moment += timedelta(hours=3)
        with time_machine.travel(moment):
            dispatch.drain()
    failed = row("broken")
    assert failed.status is DeliveryStatus.FAILED
    assert failed.attempts == app.config["NOTIFY_MAX_ATTEMPTS"]
    assert credit(user) == 1  # the credit the broken one held is the user's again


@pytest.mark.parametrize("error", [RuntimeError("a bug in one send"),
                                   ConnectionResetError("connection reset by peer")])
def test_an_exception_that_is_not_wechats_is_a_retryable_failure_of_that_row(
        app, make_user, monkeypatch, sent, error):
    worker = make_user("worker", follower=True)
    for key in ("x1", "x2", "x3"):
        queue(worker, key)
    broken_id = row("x2").id
    real = messages.send_template

    def send(openid, template_id, data, page, client_msg_id=None):
        if client_msg_id == f"linli-{broken_id}":
            raise error
        return real(openid, template_id, data, page, client_msg_id=client_msg_id)

    monkeypatch.setattr(messages, "send_template", send)
    stats = dispatch.drain()
    assert stats.sent == 2 and stats.retried == 1
    failed = row("x2")
    assert failed.status is DeliveryStatus.PENDING and failed.claimed_by is None
    assert failed.last_error.startswith(f"error: {type(error).__name__}")
    monkeypatch.undo()
    with time_machine.travel(utcnow() + timedelta(minutes=5)):
        dispatch.drain()
    assert row("x2").status is DeliveryStatus.SENT and len(sent("template")) == 3


class Killed(BaseException):
    """The process dies (SIGKILL, a power cut) while WeChat has the request."""


def test_a_subscribe_message_left_sending_is_counted_sent_not_sent_again(
        app, make_user, monkeypatch, sandbox, sent):
    user = make_user("u", credits={"work_digest": 2})
    queue(user, "k1")

    def dies_mid_call(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(messages, "send_subscribe", dies_mid_call)
    with pytest.raises(Killed):
        dispatch.drain()
    monkeypatch.undo()
    left = row("k1")
    assert left.status is DeliveryStatus.SENDING and left.sent_at is not None  # marked first
    assert credit(user) == 1
    dispatch.drain()  # the lease still holds: nobody touches it
    assert row("k1").status is DeliveryStatus.SENDING
    with time_machine.travel(utcnow() + timedelta(seconds=app.config["NOTIFY_LEASE_SECONDS"] + 1)):
        dispatch.drain()
    done = row("k1")
    assert done.status is DeliveryStatus.SENT and done.claimed_by is None
    assert done.last_error.startswith("outcome unknown")
    assert done.channel is Channel.SUBSCRIBE and done.attempts == 1
    assert sandbox.calls().get(SEND_SUBSCRIBE, 0) == 0 and sent("subscribe") == []
    assert credit(user) == 1  # the one credit spent, never a second


def test_a_claimed_row_not_yet_sending_comes_back_and_is_sent(app, make_user, sent):
    """Only a row whose WeChat call had begun is left alone; a claimed one is resent."""
    user = make_user("u", credits={"work_digest": 1})
    queue(user, "c1")
    dispatch.claim("dead-worker", 5)  # claims and dies before marking anything
    assert row("c1").sent_at is None
    with time_machine.travel(utcnow() + timedelta(seconds=app.config["NOTIFY_LEASE_SECONDS"] + 1)):
        dispatch.drain()
    assert row("c1").status is DeliveryStatus.SENT and row("c1").last_error is None
    assert len(sent("subscribe")) == 1 and credit(user) == 0
