"""The bot worker (`flask wechat bot-worker`, `deferred.work`) on many queued photos: a batch
is one transaction with a bounded number of statements, each photo handled and answered
once (also with two workers at once, or when the batch's transaction fails and each runs
again on its own); a photo whose conversation moved on keeps nothing, not even its file;
`--nice` lowers the process's CPU priority."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from app.extensions import db
from app.models import BotInbound, BotSession, Notification, Upload, User
from app.models.base import utcnow
from app.models.bot import InboundStatus
from app.services.notifications import dispatch
from app.wechat.bot import deferred, deliver
from tests.fixtures.bot import custom_messages
from tests.helpers import in_app

ROOT = Path(__file__).resolve().parents[2]


def at_photo_step(app, count: int, prefix: str = "mp-batch-") -> list[str]:
    """`count` bound followers at the 报事 photo step (as bench/bench_bot.py puts them)."""
    openids = [f"{prefix}{n}" for n in range(count)]

    def work():
        now = utcnow()
        users = [User(openid=f"batch-{o}", unionid=f"union-{o}", nickname="居民", mp_openid=o,
                      mp_following=True) for o in openids]
        db.session.add_all(users)
        db.session.flush()
        db.session.add_all([BotSession(
            openid=o, unionid=f"union-{o}", user_id=u.id, following=True, flow="report",
            step="photo", version=3, misunderstood=0, last_seen_at=now,
            expires_at=now + timedelta(hours=1),
            data={"codes": ["facility"], "names": ["设施损坏"], "category": "facility",
                  "category_name": "设施损坏", "description": "楼道灯不亮"})
            for o, u in zip(openids, users, strict=True)])
        db.session.commit()
    in_app(app, work)
    return openids


def send_photos(app, bot, openids, media_id: str = "sandbox-jpeg-1") -> None:
    app.config["BOT_DEFERRED_THREADS"] = 0  # as production's web processes: queue only
    try:
        for openid in openids:
            assert bot.send(openid, "image", media_id=media_id) is None  # success
    finally:
        app.config["BOT_DEFERRED_THREADS"] = 2


def stored_files(app) -> int:
    return sum(1 for p in Path(app.config["UPLOAD_DIR"]).rglob("*") if p.is_file())


def queued(app) -> int:
    return in_app(app, lambda: db.session.scalar(sa.select(sa.func.count()).select_from(
        BotInbound).where(BotInbound.status == InboundStatus.QUEUED)))


def answers(sandbox_url, openids) -> dict[str, list[str]]:
    return {o: custom_messages(sandbox_url, o) for o in openids}


def test_a_batch_of_photos_is_one_pass_each_answered_once(app, bot, sandbox_url):
    good = at_photo_step(app, 24)
    [bad] = at_photo_step(app, 1, prefix="mp-expired-")
    [moved] = at_photo_step(app, 1, prefix="mp-moved-")
    send_photos(app, bot, good + [moved])
    send_photos(app, bot, [bad], media_id="expired-media-id")  # the sandbox answers 40007
    in_app(app, lambda: (db.session.execute(sa.update(BotSession).where(
        BotSession.openid == moved).values(version=BotSession.version + 1)), db.session.commit()))
    files_before = stored_files(app)
    statements = []

    def count(*args):
        statements.append(args[2])
    engine = in_app(app, lambda: db.engine)
    event.listen(engine, "before_cursor_execute", count)
    try:
        counts = in_app(app, lambda: deferred.work(until_empty=True, batch=50))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert counts == {"done": 25, "skipped": 1}
    # One claim, one read of the users, one transaction for the batch, one empty claim:
    # not ~11 statements a photo as one by one.
    bot_work = [s for s in statements if not s.startswith((
        "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA")) and "wechat_tokens" not in s]
    assert len(bot_work) <= 12, [w[:60] for w in bot_work]
    assert queued(app) == 0
    assert in_app(app, lambda: deferred.work(until_empty=True)) == {}
    in_app(app, dispatch.drain)
    sent = answers(sandbox_url, good + [bad, moved])
    assert all(len(sent[o]) == 1 and "照片已收到" in sent[o][0] for o in good)
    assert len(sent[bad]) == 1 and "照片下载失败" in sent[bad][0]
    assert sent[moved] == []
    uploads = in_app(app, lambda: {u.id: u.owner_id for u in db.session.scalars(sa.select(Upload))})
    assert len(uploads) == 24 and stored_files(app) == files_before + 24  # the moved one's deleted

    def photo_owners():
        rows = db.session.execute(sa.select(BotSession.openid, BotSession.step, BotSession.data,
                                            BotSession.user_id)).all()
        return {r.openid: (r.step, r.data.get("photo_ids"), r.user_id) for r in rows}
    sessions = in_app(app, photo_owners)
    for openid in good:
        step, photo_ids, user_id = sessions[openid]
        assert step == "location" and len(photo_ids) == 1 and uploads[photo_ids[0]] == user_id
    assert sessions[bad][:2] == ("photo", None)  # send another, or 跳过
    assert sessions[moved][:2] == ("photo_wait", None)  # untouched by the worker
    keys = in_app(app, lambda: list(db.session.scalars(sa.select(Notification.dedupe_key))))
    assert len(keys) == len(set(keys)) == 25


def test_two_workers_at_once_handle_each_photo_once(app, bot, sandbox_url):
    openids = at_photo_step(app, 30)
    send_photos(app, bot, openids)
    results, errors = [], []

    def worker():
        try:
            results.append(in_app(app, lambda: deferred.work(until_empty=True, batch=8)))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sum(r.get("done", 0) for r in results) == 30
    in_app(app, dispatch.drain)
    sent = answers(sandbox_url, openids)
    assert all(len(sent[o]) == 1 and "照片已收到" in sent[o][0] for o in openids)
    assert in_app(app, lambda: db.session.scalar(sa.select(sa.func.count()).select_from(Upload))) == 30


def test_a_failed_batch_runs_each_photo_on_its_own(app, bot, sandbox_url, monkeypatch):
    openids = at_photo_step(app, 5)
    send_photos(app, bot, openids)
    files_before = stored_files(app)
    real = deliver.queue_replies

    def broken(replies):
        real(replies)
        raise sa.exc.OperationalError("INSERT", {}, Exception("connection lost"))
    monkeypatch.setattr(deliver, "queue_replies", broken)
    assert in_app(app, lambda: deferred.work(until_empty=True)) == {"done": 5}
    in_app(app, dispatch.drain)
    sent = answers(sandbox_url, openids)
    assert all(len(sent[o]) == 1 and "照片已收到" in sent[o][0] for o in openids)
    # the batch's files were deleted with its rollback: only the one-by-one run's remain
    assert stored_files(app) == files_before + 5
    assert in_app(app, lambda: db.session.scalar(sa.select(sa.func.count()).select_from(Upload))) == 5


def test_the_bot_worker_command_runs_at_a_lower_cpu_priority(app, bot, sandbox_url):
    """The real `flask wechat bot-worker` process: BOT_WORKER_NICE (or --nice) is applied
    before it runs anything, and it runs the queue."""
    [openid] = at_photo_step(app, 1)
    send_photos(app, bot, [openid])
    env = {**os.environ, "FLASK_APP": "wsgi", "BOT_WORKER_NICE": "5"}
    result = subprocess.run([sys.executable, "-m", "flask", "wechat", "bot-worker", "--until-empty"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"bot worker started (nice {min(19, os.nice(0) + 5)})" in result.stdout
    assert "'done': 1" in result.stdout
    assert queued(app) == 0


@pytest.mark.skipif(not Path("/proc/self/autogroup").exists(), reason="no autogroup scheduling")
def test_a_bot_worker_leading_its_own_session_lowers_its_sessions_priority(app, sandbox_url):
    """Started in a session of its own (as a systemd service, or bench_bot), the worker's own
    nice would count only inside its session's autogroup, not against the web processes'
    (sched(7)): it lowers its session's priority too, and reports what it reads back."""
    env = {**os.environ, "FLASK_APP": "wsgi"}
    result = subprocess.run([sys.executable, "-m", "flask", "wechat", "bot-worker", "--until-empty",
                             "--nice", "6"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120, start_new_session=True)
    assert result.returncode == 0, result.stderr
    nice = min(19, os.nice(0) + 6)
    assert f"bot worker started (nice {nice}, {nice} for its session)" in result.stdout


def test_a_niceness_out_of_range_is_refused(app):
    result = app.test_cli_runner().invoke(args=["wechat", "bot-worker", "--until-empty",
                                                "--nice", "25"])
    assert result.exit_code != 0 and "25" in result.output
