"""Real processes: several dispatchers, a dispatcher killed with SIGKILL, two schedulers.

They run `flask notifications dispatch` and `flask jobs run` as subprocesses against the
test database and the sandbox (both real servers); on PostgreSQL that exercises
`FOR UPDATE SKIP LOCKED`, on SQLite its single-writer lock.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from app.extensions import db
from app.models import DeliveryStatus, JobRun, Notification, SubscriptionCredit, User
from app.models.base import utcnow

ROOT = Path(__file__).resolve().parents[2]
DIGEST = {"open": 1, "overdue": 0, "summary": "x", "at": "2026-11-22T00:00:00+00:00"}


def start(*args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flask", *args], cwd=ROOT,
                            env={**os.environ, "FLASK_APP": "wsgi", **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen, timeout: float = 60) -> str:
    output, _ = process.communicate(timeout=timeout)
    return output


def queue_bulk(n_users: int, per_user: int, follower: bool, credits: bool) -> None:
    db.session.execute(sa.insert(User), [
        {"openid": f"p{i}", "mp_openid": f"mp-p{i}" if follower else None,
         "mp_following": follower, "nickname": "x", "created_at": utcnow()}
        for i in range(n_users)])
    ids = list(db.session.scalars(sa.select(User.id).order_by(User.id)))
    if credits:
        db.session.execute(sa.insert(SubscriptionCredit), [
            {"user_id": uid, "template_key": "work_digest", "remaining": per_user,
             "accepted_total": per_user, "rejected_total": 0, "updated_at": utcnow()}
            for uid in ids])
    db.session.execute(sa.insert(Notification), [
        {"user_id": uid, "template_key": "work_digest", "payload": DIGEST,
         "dedupe_key": f"bulk:{uid}:{k}", "status": DeliveryStatus.PENDING, "attempts": 0,
         "next_attempt_at": utcnow(), "created_at": utcnow()}
        for uid in ids for k in range(per_user)])
    db.session.commit()


def statuses() -> Counter:
    db.session.expire_all()
    counts = Counter(dict(db.session.execute(
        sa.select(Notification.status, sa.func.count()).group_by(Notification.status)).all()))
    db.session.commit()
    return counts


def messages(sandbox_url: str, kind: str) -> list[dict]:
    return requests.get(sandbox_url + "sandbox/messages", params={"kind": kind},
                        timeout=10).json()["items"]


def test_two_dispatchers_deliver_each_message_exactly_once(ctx, sandbox_url):
    queue_bulk(n_users=200, per_user=10, follower=False, credits=True)  # 2,000 messages
    workers = [start("notifications", "dispatch", "--until-empty") for _ in range(2)]
    outputs = [finish(w, timeout=300) for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    assert statuses() == Counter({DeliveryStatus.SENT: 2000})
    received = messages(sandbox_url, "subscribe")
    assert len(received) == 2000
    per_recipient = Counter(m["body"]["touser"] for m in received)
    assert set(per_recipient.values()) == {10}
    # Both dispatchers took part (a claim takes a batch, not the whole queue).
    assert all("'sent': 0" not in out for out in outputs), outputs
    assert db.session.scalar(sa.select(sa.func.sum(SubscriptionCredit.remaining))) == 0


def test_dispatcher_killed_mid_batch_loses_and_duplicates_nothing(ctx, sandbox_url):
    queue_bulk(n_users=60, per_user=10, follower=True, credits=False)  # 600 template messages
    lease = {"NOTIFY_LEASE_SECONDS": "2"}
    victim = start("notifications", "dispatch", **lease)
    deadline = time.monotonic() + 60
    while len(messages(sandbox_url, "template")) < 150 and time.monotonic() < deadline:
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    finish(victim, timeout=10)  # reaped, its output pipe closed
    after_kill = statuses()
    assert after_kill[DeliveryStatus.SENT] < 600  # killed mid-way, with work left over
    successor = start("notifications", "dispatch", **lease)
    deadline = time.monotonic() + 120
    while statuses()[DeliveryStatus.SENT] < 600 and time.monotonic() < deadline:
        time.sleep(0.2)
    successor.send_signal(signal.SIGTERM)
    finish(successor)
    assert successor.returncode == 0
    assert statuses() == Counter({DeliveryStatus.SENT: 600})
    received = messages(sandbox_url, "template")
    ids = Counter(m["body"]["client_msg_id"] for m in received)
    assert len(received) == 600 and len(ids) == 600


def test_dispatcher_killed_during_a_subscribe_call_never_sends_it_twice(ctx, sandbox,
                                                                         sandbox_url):
    """SIGKILL while WeChat holds a subscribe message (the sandbox answers it 3 s late, and
    delivers it): the successor counts it sent, outcome unknown, and sends the rest once."""
    queue_bulk(n_users=30, per_user=1, follower=False, credits=True)  # one credit each
    sandbox.fault("cgi-bin/message/subscribe/send", delay=3, count=1)
    lease = {"NOTIFY_LEASE_SECONDS": "2"}
    victim = start("notifications", "dispatch", WECHAT_TIMEOUT="10", **lease)
    deadline = time.monotonic() + 60
    while not sandbox.calls().get("cgi-bin/message/subscribe/send") and time.monotonic() < deadline:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)  # the first call is still waiting for its answer
    finish(victim, timeout=10)
    assert messages(sandbox_url, "subscribe") == []
    left = db.session.scalars(sa.select(Notification).where(
        Notification.sent_at.is_not(None), Notification.status == DeliveryStatus.SENDING)).all()
    db.session.commit()
    assert len(left) == 1  # marked before the call, in its own commit
    successor = start("notifications", "dispatch", **lease)
    deadline = time.monotonic() + 120
    while statuses()[DeliveryStatus.SENT] < 30 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.5)  # the late answer has arrived: WeChat delivered that message after all
    successor.send_signal(signal.SIGTERM)
    output = finish(successor)
    assert successor.returncode == 0, output
    assert statuses() == Counter({DeliveryStatus.SENT: 30})
    unknown = db.session.scalar(sa.select(Notification).where(
        Notification.last_error.like("outcome unknown%")))
    db.session.commit()
    assert unknown.id == left[0].id
    received = messages(sandbox_url, "subscribe")
    per_recipient = Counter(m["body"]["touser"] for m in received)
    assert len(received) == 30 and set(per_recipient.values()) == {1}, per_recipient
    assert db.session.scalar(sa.select(sa.func.sum(SubscriptionCredit.remaining))) == 0


def runs() -> list:
    """(holder, started_at) rows, read in a transaction that ends at once: on SQLite an open
    transaction here would hold the lock the schedulers need."""
    rows = db.session.execute(sa.select(JobRun.holder, JobRun.started_at).where(
        JobRun.job_id == "dispatch-housekeeping").order_by(JobRun.started_at)).all()
    db.session.commit()
    return rows


def assert_never_twice(rows: list, interval: float) -> None:
    gaps = [(b.started_at - a.started_at).total_seconds() for a, b in zip(rows, rows[1:], strict=False)]
    assert all(gap > interval * 0.75 for gap in gaps), gaps


def test_the_dispatcher_lowers_its_cpu_priority_when_asked(ctx, sandbox_url):
    """DISPATCH_NICE (or --nice), as the bot worker's: the callbacks come first."""
    output = finish(start("notifications", "dispatch", "--until-empty", DISPATCH_NICE="4"))
    assert f"dispatcher started (nice {min(19, os.nice(0) + 4)})" in output
    assert "dispatcher stopped" in output


def test_two_schedulers_fire_each_job_once_per_interval_and_fail_over(ctx):
    """A 'one-minute job' scaled down to 2 s, with a 3 s lease renewed every second."""
    env = {"JOB_TRIGGERS": '{"dispatch-housekeeping": {"trigger": "interval", "seconds": 2},'
                           ' "work-digest": {"trigger": "interval", "hours": 24}}',
           "SCHEDULER_LEASE_SECONDS": "3", "SCHEDULER_RENEW_SECONDS": "1"}
    first = start("jobs", "run", **env)
    time.sleep(1.5)
    second = start("jobs", "run", **env)
    time.sleep(9)
    before = runs()
    assert 3 <= len(before) <= 6, [r.started_at for r in before]
    assert len({r.holder for r in before}) == 1  # one leader fired everything
    assert_never_twice(before, 2)
    leader = first if before[0].holder.endswith(f":{first.pid}") else second
    standby = second if leader is first else first
    killed_at = utcnow()
    leader.send_signal(signal.SIGKILL)
    finish(leader, timeout=10)
    time.sleep(10)
    after = runs()
    taken_over = [r for r in after if r.started_at > killed_at]
    if not taken_over:
        standby.kill()
        pytest.fail("standby never took over:\n" + finish(standby))
    assert all(r.holder.endswith(f":{standby.pid}") for r in taken_over)
    # lease (3 s) + renew (1 s) + interval (2 s) + slack: within a minute scaled down.
    assert (taken_over[0].started_at - killed_at).total_seconds() < 8
    assert_never_twice(after, 2)
    standby.send_signal(signal.SIGTERM)
    finish(standby)
    assert standby.returncode == 0
    assert db.session.scalar(sa.text("SELECT count(*) FROM scheduler_leases")) == 0
