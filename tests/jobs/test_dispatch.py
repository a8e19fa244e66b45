"""The outbox and the dispatcher against the sandbox over HTTP, one errcode class at a time."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.models import DeliveryStatus, Notification, SubscriptionCredit
from app.models.base import utcnow
from app.services.notifications import dispatch
from app.services.notifications.outbox import notify

DIGEST = {"open": 3, "overdue": 1, "summary": "楼道灯坏了", "at": "2026-11-22T00:00:00+00:00"}


def queue(user, key="k1", data=None):
    created = notify(user, "work_digest", data or DIGEST, dedupe_key=key)
    db.session.commit()
    return created


def row(key="k1") -> Notification:
    db.session.expire_all()
    return db.session.scalar(sa.select(Notification).where(Notification.dedupe_key == key))


def credit(user) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(SubscriptionCredit.remaining).where(
        SubscriptionCredit.user_id == user.id))


def test_rolled_back_notify_sends_nothing(make_user, sent):
    user = make_user("u", credits={"work_digest": 1})
    notify(user, "work_digest", DIGEST, dedupe_key="rolled-back")
    db.session.rollback()
    dispatch.drain()
    assert sent() == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0


def test_same_dedupe_key_is_queued_once(make_user):
    user = make_user("u")
    assert queue(user, "same") is True
    assert queue(user, "same") is False
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 1


def test_subscribe_credit_is_consumed_once_per_message(make_user, sent):
    user = make_user("u", credits={"work_digest": 2})
    for i in range(3):
        queue(user, f"m{i}")
    stats = dispatch.drain()
    assert (stats.sent, stats.inbox_only) == (2, 1)
    messages = sent("subscribe")
    assert len(messages) == 2
    assert messages[0]["body"]["touser"] == "u"
    assert messages[0]["body"]["template_id"] == "sandbox-work_digest"
    assert messages[0]["body"]["data"]["number2"] == {"value": "3"}
    assert credit(user) == 0
    assert [row(f"m{i}").status for i in range(3)] == [
        DeliveryStatus.SENT, DeliveryStatus.SENT, DeliveryStatus.INBOX_ONLY]


def test_43101_falls_back_to_inbox_and_is_not_retried(make_user, sandbox, sent):
    user = make_user("u", credits={"work_digest": 3})
    queue(user)
    sandbox.fault("cgi-bin/message/subscribe/send", errcode=43101)
    dispatch.drain()
    notification = row()
    assert notification.status is DeliveryStatus.INBOX_ONLY
    assert notification.last_error.startswith("43101")
    assert credit(user) == 0  # WeChat says there is none left: believe it
    with time_machine.travel(utcnow() + timedelta(hours=1)):
        dispatch.drain()
    assert sandbox.calls()["cgi-bin/message/subscribe/send"] == 1
    assert sent() == []


def test_expired_token_is_refreshed_once_and_the_message_sent(make_user, sandbox, sent):
    user = make_user("u", credits={"work_digest": 1})
    queue(user)
    dispatch.drain()  # fetches a token
    queue(user, "k2")
    db.session.execute(sa.update(SubscriptionCredit).values(remaining=1))
    db.session.commit()
    sandbox.expire_tokens()
    dispatch.drain()
    assert row("k2").status is DeliveryStatus.SENT
    assert sandbox.calls()["cgi-bin/token"] == 2
    assert len(sent("subscribe")) == 2


@pytest.mark.parametrize("errcode", [45009, 45011, -1])
def test_busy_errcodes_back_off_exponentially_then_succeed(make_user, sandbox, sent, errcode):
    user = make_user("u", credits={"work_digest": 1})
    queue(user)
    sandbox.fault("cgi-bin/message/subscribe/send", errcode=errcode, count=2)
    start = utcnow()
    dispatch.drain()
    first = row()
    assert first.status is DeliveryStatus.PENDING and first.attempts == 1
    assert first.last_error.startswith(str(errcode))
    assert timedelta(seconds=29) < first.next_attempt_at - start < timedelta(seconds=35)
    dispatch.drain()  # not due yet: nothing happens
    assert sandbox.calls()["cgi-bin/message/subscribe/send"] == 1
    with time_machine.travel(start + timedelta(seconds=31)):
        dispatch.drain()
    second = row()
    assert second.attempts == 2
    assert timedelta(seconds=59) < second.next_attempt_at - (start + timedelta(seconds=31)) \
        < timedelta(seconds=65)
    with time_machine.travel(start + timedelta(seconds=100)):
        dispatch.drain()
    assert row().status is DeliveryStatus.SENT and row().attempts == 3
    assert len(sent("subscribe")) == 1
    assert credit(user) == 0  # one credit for one message, however many attempts


def test_retries_stop_at_the_maximum_and_give_the_credit_back(app, make_user, sandbox):
    user = make_user("u", credits={"work_digest": 1})
    queue(user)
    sandbox.fault("cgi-bin/message/subscribe/send", errcode=45011, count=100)
    moment = utcnow()
    for _ in range(app.config["NOTIFY_MAX_ATTEMPTS"] + 2):
        with time_machine.travel(moment):
            dispatch.drain()
        moment += timedelta(hours=2)
    failed = row()
    assert failed.status is DeliveryStatus.FAILED
    assert failed.attempts == app.config["NOTIFY_MAX_ATTEMPTS"]
    assert failed.last_error.startswith("45011")
    assert sandbox.calls()["cgi-bin/message/subscribe/send"] == app.config["NOTIFY_MAX_ATTEMPTS"]
    assert credit(user) == 1


def test_timeout_is_retried(make_user, sandbox, sent):
    user = make_user("u", credits={"work_digest": 1})
    queue(user)
    sandbox.fault("cgi-bin/message/subscribe/send", delay=1.5)  # client timeout is 1 s
    dispatch.drain()
    assert row().status is DeliveryStatus.PENDING
    assert "ReadTimeout" in row().last_error


@pytest.mark.parametrize("errcode", [40003, 47003, 41030])
def test_permanent_errors_fail_at_once(make_user, sandbox, errcode):
    user = make_user("u", credits={"work_digest": 1})
    queue(user)
    sandbox.fault("cgi-bin/message/subscribe/send", errcode=errcode)
    dispatch.drain()
    failed = row()
    assert failed.status is DeliveryStatus.FAILED and failed.attempts == 1
    assert failed.last_error.startswith(str(errcode))
    assert credit(user) == 1
    with time_machine.travel(utcnow() + timedelta(days=1)):
        dispatch.drain()
    assert sandbox.calls()["cgi-bin/message/subscribe/send"] == 1


def test_a_queue_of_inbox_only_rows_longer_than_a_batch_is_drained(app, make_user):
    user = make_user("no-channel")
    for i in range(app.config["NOTIFY_BATCH_SIZE"] * 2 + 1):
        queue(user, f"i{i}")
    stats = dispatch.drain()
    assert stats.inbox_only == app.config["NOTIFY_BATCH_SIZE"] * 2 + 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.status != DeliveryStatus.INBOX_ONLY)) == 0


def test_followers_get_template_messages_with_a_dedupe_id(make_user, sent):
    worker = make_user("worker", follower=True)
    queue(worker)
    dispatch.drain()
    [message] = sent("template")
    body = message["body"]
    assert body["touser"] == "mp-worker"
    assert body["client_msg_id"] == f"linli-{row().id}"
    assert body["miniprogram"]["pagepath"] == "pages/work/index"
    assert row().status is DeliveryStatus.SENT and row().channel.value == "template"


def test_a_credit_wins_over_the_official_account(make_user, sent):
    both = make_user("both", credits={"work_digest": 1}, follower=True)
    queue(both, "a")
    queue(both, "b")
    dispatch.drain()
    assert [m["kind"] for m in sent()] == ["subscribe", "template"]


def test_sandbox_drops_a_repeated_template_message_like_wechat(make_user, sent):
    from app.wechat.messages import send_template

    worker = make_user("worker", follower=True)
    first = send_template(worker.mp_openid, "t", {}, "p", client_msg_id="same")
    again = send_template(worker.mp_openid, "t", {}, "p", client_msg_id="same")
    assert first == again and len(sent("template")) == 1


def test_killed_dispatchers_rows_come_back_after_the_lease(app, make_user, sent):
    user = make_user("u", follower=True)
    for i in range(5):
        queue(user, f"r{i}")
    claimed, _ = dispatch.claim("dead-worker", 3)  # claims, then "dies" without sending
    assert len(claimed) == 3
    dispatch.drain()  # the other two go; the leased three wait
    assert len(sent("template")) == 2
    with time_machine.travel(utcnow() + timedelta(seconds=app.config["NOTIFY_LEASE_SECONDS"] + 1)):
        dispatch.drain()
    bodies = sent("template")
    assert len(bodies) == 5
    assert len({m["body"]["client_msg_id"] for m in bodies}) == 5
