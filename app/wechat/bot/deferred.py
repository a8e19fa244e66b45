"""Messages answered later: a photo to download, a report to file (a content check). The
callback marked the inbound row `queued` and answered `success`; this module does the
work and answers by customer-service message (app.wechat.bot.deliver).

The work is durable before any thread sees it: the `queued` row, with everything the task
needs in its payload, commits in the handling's own transaction (with the dedupe row and
the session's step), and the thread pool only gets its id. A process that dies mid-task
(tests/wechat/test_bot_gunicorn.py kills a gunicorn mid-download) leaves the row queued and
nothing of the task's effects; the job runs it later.

`process(inbound_id)` runs a task exactly once, however many run it (this process's
thread pool right after the callback, or the bot worker, `work`, where web processes leave
deferred work to it; the `bot-deferred` job for anything a dead process left behind):
1. the WeChat call first, outside any transaction (the download; the filing's content
   check inside `create_incident`, whose own commit is held: `holding_commits`);
2. then, in the same transaction as the task's effects: the session row locked, the
   inbound row read again locked, and everything rolled back unless it is still `queued`
   and the session is still at the step the message was queued for (version); otherwise
   the inbound row is closed and the answer sent, committed together.
A task that fails unexpectedly is tried again by the job, `BOT_DEFERRED_ATTEMPTS` times in
all, then answered with an apology.

The bot worker (`work`) claims up to WORK_BATCH queued rows with one statement (`claim`)
and runs their photos together (app.wechat.bot.photos: the same two steps, the second one
transaction for the batch), the rest one by one with `process`. `flask wechat bot-worker
--nice N` (BOT_WORKER_NICE) runs it at a lower CPU priority than the web processes.
"""
from __future__ import annotations

import logging
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask, current_app
from wechatpy.exceptions import WeChatClientException

from app.errors import AppError
from app.extensions import db
from app.models import BotInbound, BotSession, User
from app.models.base import utcnow
from app.models.bot import InboundStatus
from app.services import uploads
from app.services.idempotency import holding_commits
from app.wechat.bot import deliver, outbound, replies, sessions
from app.wechat.bot.dialogs import report

log = logging.getLogger(__name__)
RECOVER_AFTER = timedelta(seconds=30)  # a queued row this old lost its thread
RECOVER_BATCH = 50
WORK_BATCH = 50  # messages the bot worker claims at a time

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def kick(app: Flask, inbound_id: int) -> None:
    """Run the task in this process's small thread pool (BOT_DEFERRED_THREADS), now."""
    global _pool
    if app.config["BOT_DEFERRED_THREADS"] <= 0:
        return  # the job picks it up
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(app.config["BOT_DEFERRED_THREADS"],
                                       thread_name_prefix="bot-deferred")
    _pool.submit(_run, app, inbound_id)


def _run(app: Flask, inbound_id: int) -> None:
    with app.app_context():
        try:
            process(inbound_id)
        except Exception as exc:  # noqa: BLE001 - the job tries again
            log.error("deferred bot message %s failed: %s", inbound_id, _where(exc))
        finally:
            db.session.remove()


def process(inbound_id: int) -> str:
    """Run one queued message's task; what happened ("done", "skipped", "failed", "retry")."""
    row = db.session.get(BotInbound, inbound_id)
    if row is None or row.status is not InboundStatus.QUEUED:
        db.session.rollback()
        return "skipped"
    payload, openid = dict(row.payload or {}), row.openid
    user_id = db.session.scalar(sa.select(BotSession.user_id).where(BotSession.openid == openid))
    db.session.rollback()  # end the read before calling WeChat
    try:
        with holding_commits():
            effect = TASKS[payload.get("task")](user_id, openid, payload)
    except (AppError, WeChatClientException) as error:
        db.session.rollback()
        if payload.get("task") == PHOTO:  # the report goes on: send another or 跳过
            return _finish(inbound_id, openid, payload, None, photo_refused(error), step="photo")
        return _finish(inbound_id, openid, payload, None,
                       f"{_refusal(payload)}{_refused(error)}", end=True)
    except Exception as exc:  # noqa: BLE001 - counted; the job tries again
        db.session.rollback()
        log.error("deferred bot message %s: task %s failed: %s", inbound_id,
                  payload.get("task"), _where(exc))
        return _count_failure(inbound_id, openid, payload)
    return _finish(inbound_id, openid, payload, *effect)


def _refusal(payload: dict) -> str:
    return "报事未提交：" if payload.get("task") == "report_file" else ""


def _refused(error: AppError | WeChatClientException) -> str:
    return error.message if isinstance(error, AppError) else "照片下载失败，请重新发送。"


def photo_refused(error: AppError | WeChatClientException) -> str:
    """The answer to a 报事 photo that could not be kept (here and app.wechat.bot.photos)."""
    return f"{_refused(error)}没有照片请回复“跳过”。"


def photo_received(user: User) -> str:
    """The answer to a 报事 photo kept: the next step's prompt."""
    return "照片已收到。\n" + report.location_prompt(user)


def not_bound() -> AppError:
    return AppError("请先绑定住址", code="not_bound")


def _user(user_id: int | None) -> User:
    user = db.session.get(User, user_id) if user_id else None
    if user is None:
        raise not_bound()
    return user


def _photo(user_id: int | None, openid: str, payload: dict):
    media = outbound.download_media(payload["media_id"])
    user = _user(user_id)
    upload = uploads.create_upload(user, media)
    return {"photo_ids": [upload.id]}, photo_received(user)


def _file(user_id: int | None, openid: str, payload: dict):
    user = _user(user_id)
    data = db.session.scalar(sa.select(BotSession.data).where(BotSession.openid == openid))
    return None, report.file(user, data or {})


PHOTO = "report_photo"  # the task the bot worker runs a batch at a time (app.wechat.bot.photos)
TASKS = {PHOTO: _photo, "report_file": _file}
NEXT_STEP = {PHOTO: "location", "report_file": None}


def _finish(inbound_id: int, openid: str, payload: dict, data: dict | None, text: str,
            end: bool = False, step: str | None = None) -> str:
    """Close the inbound row and answer, with the task's effects, in one transaction (or
    roll everything back when another run got there first or the conversation moved on)."""
    session = db.session.scalar(sa.select(BotSession).where(BotSession.openid == openid)
                                .with_for_update())
    row = db.session.scalar(sa.select(BotInbound).where(BotInbound.id == inbound_id)
                            .with_for_update().execution_options(populate_existing=True))
    if row is None or row.status is not InboundStatus.QUEUED:
        db.session.rollback()
        return "skipped"
    current = session is not None and session.version == payload.get("version")
    if not current:
        db.session.rollback()  # cancelled or timed out meanwhile: nothing of the task stays
        row = db.session.get(BotInbound, inbound_id)
        row.status, row.handled_at = InboundStatus.DONE, utcnow()
        db.session.commit()
        return "skipped"
    step = step or NEXT_STEP.get(payload.get("task"))
    if end or step is None:
        sessions.end(session)
    else:
        sessions.go(session, step, **(data or {}))
    row.status, row.handled_at = InboundStatus.DONE, utcnow()
    user = db.session.get(User, session.user_id) if session.user_id else None
    if user is not None:
        deliver.queue_reply(user, f"bot:{inbound_id}:reply", text)
    db.session.commit()
    return "done"


def _where(exc: BaseException) -> str:
    """The exception's type and where it was raised, not its message: a database error's
    message carries the statement's parameters (what the follower wrote)."""
    frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    place = f" at {frame[0].filename.rsplit('/', 1)[-1]}:{frame[0].lineno}" if frame else ""
    return type(exc).__name__ + place


def _count_failure(inbound_id: int, openid: str, payload: dict) -> str:
    row = db.session.scalar(sa.select(BotInbound).where(BotInbound.id == inbound_id)
                            .with_for_update())
    if row is None or row.status is not InboundStatus.QUEUED:
        db.session.rollback()
        return "skipped"
    row.attempts += 1
    if row.attempts < current_app.config["BOT_DEFERRED_ATTEMPTS"]:
        db.session.commit()
        return "retry"
    db.session.commit()
    return _finish(inbound_id, openid, payload, None, replies.FAILED, end=True) and "failed"


def claim(limit: int = WORK_BATCH) -> list:
    """The oldest queued messages (oldest first), with each follower's bound user, in one
    statement; nothing is locked or changed (`process` and app.wechat.bot.photos decide,
    under the session's lock, whether a message still needs running)."""
    from app.wechat.bot.photos import Claim

    rows = db.session.execute(sa.select(
        BotInbound.id, BotInbound.openid, BotInbound.payload, BotSession.user_id)
        .outerjoin(BotSession, BotSession.openid == BotInbound.openid)
        .where(BotInbound.status == InboundStatus.QUEUED)
        .order_by(BotInbound.created_at, BotInbound.id).limit(limit)).all()
    db.session.rollback()
    return [Claim(r.id, r.openid, dict(r.payload or {}), r.user_id) for r in rows]


def work(stop: threading.Event | None = None, until_empty: bool = False,
         idle_sleep: float = 0.5, batch: int = WORK_BATCH) -> dict:
    """The bot worker (`flask wechat bot-worker`): run queued messages oldest first, however
    new, until `stop` (or, `until_empty`, until none is left). Web processes started with
    `BOT_DEFERRED_THREADS=0` then only queue and answer `success`: a burst of photos costs
    their callbacks nothing (the download and the image's decoding run here, not beside the
    requests). Up to `batch` messages are claimed with one statement; their photos are run
    together, one transaction for the batch (app.wechat.bot.photos), anything else one by
    one (`process`). Several workers may run; a message runs exactly once however many try."""
    from app.wechat.bot import photos

    stop = stop or threading.Event()
    counts: dict = {}
    while not stop.is_set():
        claims = claim(batch)
        if not claims:
            if until_empty:
                break
            stop.wait(idle_sleep)
            continue
        batched = [c for c in claims if c.payload.get("task") == photos.TASK]
        for outcome, n in photos.run(batched, stop).items():
            counts[outcome] = counts.get(outcome, 0) + n
        for item in claims:
            if stop.is_set():
                break  # a failing message is tried again at once, BOT_DEFERRED_ATTEMPTS in all
            if item.payload.get("task") != photos.TASK:
                outcome = process(item.id)
                counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def recover(now=None) -> dict:
    """The `bot-deferred` job: run queued rows older than RECOVER_AFTER (their thread died
    with its process, or failed and left them for another try)."""
    now = now or utcnow()
    ids = list(db.session.scalars(sa.select(BotInbound.id).where(
        BotInbound.status == InboundStatus.QUEUED, BotInbound.created_at < now - RECOVER_AFTER)
        .order_by(BotInbound.created_at).limit(RECOVER_BATCH)))
    db.session.rollback()
    counts: dict = {}
    for inbound_id in ids:
        outcome = process(inbound_id)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
