"""The callback under a real gunicorn with two worker processes (started here, on a free
port, against the test database and the sandbox): WeChat's retries racing each other across
processes (on PostgreSQL the session row lock and the dedupe row's unique index, on SQLite
its write lock), a slow step answered `success` at once and delivered once, and a worker
killed in the middle of deferred work (the queued row survives it; the `bot-deferred` job
finishes it, once).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import requests
import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.jobs import get_job
from app.jobs.runner import run_job
from app.models import BotInbound, BotSession, Incident
from app.models.base import utcnow
from app.models.bot import InboundStatus
from app.wechat.sandbox import message_xml, post_to_callback
from tests.fixtures.bot import custom_messages, wait_deferred
from tests.helpers import in_app, run_together

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
ZHANG = "mp-demo-resident"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gunicorn(workers: int = 2, **env: str):
    """`gunicorn wsgi:app -w <workers>` on a free port; yields the callback's URL. The
    environment is the test app's (its database, the sandbox) plus `env`."""
    port = _free_port()
    process = subprocess.Popen(
        [str(GUNICORN), "wsgi:app", "-b", f"127.0.0.1:{port}", "-w", str(workers),
         "--log-level", "warning", "--timeout", "60"],
        cwd=ROOT, env={**os.environ, **env}, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()[0][-3000:]
            try:
                if requests.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
        yield base + "/wechat/callback", process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


def count(app, model, *where) -> int:
    return in_app(app, lambda: db.session.scalar(
        sa.select(sa.func.count()).select_from(model).where(*where)))


def worker_pids(master: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True,
                         text=True).stdout
    return {int(pid) for pid in out.split()}


def walk_to(bot, *steps: str) -> None:
    bot.event(ZHANG, "subscribe")
    for text in steps:
        assert bot.say(ZHANG, text), text


def test_three_copies_at_once_across_workers_are_answered_once(app, world, people):
    with gunicorn() as (url, process):
        workers = worker_pids(process.pid)
        assert len(workers) >= 2
        for round_ in range(5):  # five messages, each three copies released together
            xml = message_xml(ZHANG, content="你好", msg_id=880000 + round_)
            results = run_together(3, lambda i, xml=xml: post_to_callback(url, xml, retries=1))
            bodies = [r[0]["body"] for r in results]
            assert [r[0]["status"] for r in results] == [200] * 3, bodies
            assert bodies.count("success") == 2, bodies
            assert sum("1 报事" in body for body in bodies) == 1
    assert count(app, BotInbound) == 5


def test_a_confirm_retried_three_times_at_once_across_workers_is_one_incident(
        app, world, people, categories, bot, sandbox_url):
    walk_to(bot, "1", "1", "门口垃圾没人清理", "跳过", "1")  # at the confirm step
    confirm = message_xml(ZHANG, content="1", msg_id=880100)
    with gunicorn() as (url, _process):
        results = run_together(3, lambda i: post_to_callback(url, confirm, retries=1))
        # WeChat's third retry, later, after the first has long committed.
        late = post_to_callback(url, confirm, retries=1)
        wait_deferred(app)  # the workers' deferred threads file it; the outbox delivers
    assert [r[0]["body"] for r in results] == ["success"] * 3
    assert late == [{"status": 200, "body": "success"}]
    assert count(app, Incident) == 1
    answers = [text for text in custom_messages(sandbox_url, ZHANG) if "报事已提交" in text]
    assert len(answers) == 1
    assert count(app, BotInbound, BotInbound.dedupe_key == f"m:{ZHANG}:880100") == 1


def test_a_slow_step_answers_success_at_once_and_the_answer_comes_once(
        app, world, people, categories, bot, sandbox, sandbox_url):
    walk_to(bot, "1", "2", "楼道灯坏了，晚上很黑")  # at the photo step
    sandbox.fault("cgi-bin/media/get", delay=3, count=1)  # WeChat's media API is slow
    photo = message_xml(ZHANG, "image", media_id="sandbox-jpeg-7", msg_id=880200)
    with gunicorn(WECHAT_TIMEOUT="10") as (url, _process):
        started = time.monotonic()
        first = post_to_callback(url, photo, retries=3, timeout=4.5)  # WeChat waits 5 s
        answered = time.monotonic() - started
        # WeChat's retries (it did get `success`, but retries happen): nothing more.
        again = run_together(2, lambda i: post_to_callback(url, photo, retries=1))
        wait_deferred(app, timeout=20)
    assert first == [{"status": 200, "body": "success"}]
    assert answered < 2.5, answered  # did not wait for the 3-second download
    assert [r[0]["body"] for r in again] == ["success", "success"]
    received = custom_messages(sandbox_url, ZHANG)
    assert sum("照片已收到" in text for text in received) == 1, received
    assert in_app(app, lambda: db.session.get(BotSession, ZHANG)).step == "location"


def test_a_worker_killed_mid_task_loses_nothing(app, world, people, categories, bot, sandbox,
                                                 sandbox_url):
    """The deferred work is a committed row (`queued`, with what it needs) before the
    callback answers; the thread only starts it. SIGKILL while it waits on WeChat: the row is
    still queued, nothing half-done stayed, and the job finishes it exactly once."""
    walk_to(bot, "1", "2", "楼道灯坏了，晚上很黑")
    sandbox.fault("cgi-bin/media/get", delay=8, count=1)
    photo = message_xml(ZHANG, "image", media_id="sandbox-jpeg-8", msg_id=880300)
    with gunicorn(WECHAT_TIMEOUT="20") as (url, process):
        assert post_to_callback(url, photo, retries=1) == [{"status": 200, "body": "success"}]
        deadline = time.monotonic() + 10
        while not sandbox.calls().get("cgi-bin/media/get"):  # the download is under way
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)  # master and workers, mid-download
        process.wait(10)
    queued = in_app(app, lambda: db.session.scalar(sa.select(BotInbound).where(
        BotInbound.dedupe_key == f"m:{ZHANG}:880300")))
    assert queued.status is InboundStatus.QUEUED and queued.payload["task"] == "report_photo"
    assert in_app(app, lambda: db.session.get(BotSession, ZHANG)).step == "photo_wait"
    with gunicorn() as (url, _process):  # restarted: WeChat's retry is still a duplicate
        assert post_to_callback(url, photo, retries=1) == [{"status": 200, "body": "success"}]
    with time_machine.travel(utcnow() + timedelta(minutes=2)):
        outcome = in_app(app, lambda: run_job(get_job("bot-deferred"), "test"))
        wait_deferred(app)
        again = in_app(app, lambda: run_job(get_job("bot-deferred"), "test"))
    assert outcome == {"done": 1} and not again.get("done")
    received = Counter("照片已收到" in text for text in custom_messages(sandbox_url, ZHANG))
    assert received[True] == 1
    assert in_app(app, lambda: db.session.get(BotSession, ZHANG)).step == "location"


def test_a_text_and_a_photo_arriving_together_do_not_interleave(app, world, people, categories,
                                                                bot, sandbox_url):
    """At the photo step, "跳过" and a photo released together to two workers: the session
    row lock orders them, so exactly one of them is the photo step's answer and the other
    meets the step after it (never both taken as the photo step)."""
    walk_to(bot, "1", "2", "楼道灯坏了，晚上很黑")
    skip = message_xml(ZHANG, content="跳过", msg_id=880400)
    photo = message_xml(ZHANG, "image", media_id="sandbox-jpeg-4", msg_id=880401)
    with gunicorn() as (url, _process):
        results = run_together(2, lambda i: post_to_callback(url, (skip, photo)[i], retries=1))
        wait_deferred(app, timeout=20)
    skipped, photographed = (r[0]["body"] for r in results)
    session = in_app(app, lambda: db.session.get(BotSession, ZHANG))
    received = custom_messages(sandbox_url, ZHANG)
    if photographed != "success":  # 跳过 first: the photo met the location step
        assert "位置" in skipped and "位置" in photographed  # asked for a location again
        assert not session.data.get("photo_ids") and received == []
    else:  # the photo first: 跳过 met photo_wait (or, the download done, the location step)
        assert "请稍候" in skipped or "位置" in skipped
        assert len(session.data.get("photo_ids") or []) == 1
        assert sum("照片已收到" in text for text in received) == 1
    assert session.step == "location"
    assert count(app, BotInbound, BotInbound.dedupe_key.in_(
        [f"m:{ZHANG}:880400", f"m:{ZHANG}:880401"])) == 2
