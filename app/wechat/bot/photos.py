"""The bot worker's photos, a batch at a time (app.wechat.bot.deferred.work).

`run(claims)` does for every queued 报事 photo of the batch what `deferred.process` does for
one, with the same guarantees, in far fewer statements:
1. outside any transaction: the batch's users read once (with their building, for the next
   prompt); then each photo downloaded and checked, cleaned and saved to storage
   (`uploads.store_image`: no database);
2. one transaction for the whole batch: the sessions locked (in openid order, so two
   workers never deadlock), the inbound rows locked, and for each message still `queued`
   whose session is still at the version it was queued at: its upload row, the session's
   next step, the row closed and the answer queued (one outbox INSERT for the batch). A
   row another run closed meanwhile is left alone; one whose conversation moved on is
   closed with nothing else. One commit; the files of what was not kept are deleted.

A task that fails unexpectedly is counted as `process` counts it (`BOT_DEFERRED_ATTEMPTS`);
if the batch's transaction itself fails (a deadlock with a binding change, the database
gone), everything of it is rolled back, its files deleted, and each message run again on
its own by `process`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import joinedload
from wechatpy.exceptions import WeChatClientException

from app.errors import AppError
from app.extensions import db
from app.models import BotInbound, BotSession, Household, Upload, User
from app.models.base import utcnow
from app.models.bot import InboundStatus
from app.services import uploads
from app.storage import get_storage
from app.wechat.bot import deferred, deliver, outbound, sessions

log = logging.getLogger(__name__)
TASK = deferred.PHOTO


@dataclass
class Claim:
    """A queued message as the worker's claim read it."""

    id: int
    openid: str
    payload: dict
    user_id: int | None


@dataclass
class Result:
    claim: Claim
    text: str
    step: str  # "location" (received) or "photo" (send another or 跳过)
    stored: uploads.StoredImage | None = None


def run(claims: list[Claim], stop=None) -> dict:
    """Run a batch of queued photos; the outcomes counted ("done", "skipped", ...)."""
    prompts = _prompts({c.user_id for c in claims if c.user_id})
    db.session.rollback()  # end the read before calling WeChat
    results, failed = [], []
    for claim in claims:
        if stop is not None and stop.is_set() and results:
            break  # what was fetched is still finished below; the rest waits
        try:
            results.append(_fetch(claim, prompts))
        except Exception as exc:  # noqa: BLE001 - counted; tried again
            log.error("deferred bot message %s: task %s failed: %s", claim.id, TASK,
                      deferred._where(exc))
            failed.append(claim)
    counts: dict = {}
    try:
        for outcome in _finish(results):
            counts[outcome] = counts.get(outcome, 0) + 1
    except Exception as exc:  # noqa: BLE001 - each message runs again on its own
        db.session.rollback()
        log.warning("bot photo batch of %s rolled back (%s): one by one instead",
                    len(results), deferred._where(exc))
        _delete([r.stored for r in results])
        for result in results:
            outcome = deferred.process(result.claim.id)
            counts[outcome] = counts.get(outcome, 0) + 1
    for claim in failed:
        outcome = deferred._count_failure(claim.id, claim.openid, claim.payload)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _prompts(user_ids: set[int]) -> dict[int, str]:
    """Each user's next prompt (the location step names their building)."""
    if not user_ids:
        return {}
    users = db.session.scalars(sa.select(User).where(User.id.in_(sorted(user_ids))).options(
        joinedload(User.household).joinedload(Household.building)))
    return {user.id: deferred.photo_received(user) for user in users}


def _fetch(claim: Claim, prompts: dict[int, str]) -> Result:
    """The WeChat and storage part, outside any transaction; expected refusals (not bound,
    the download failed, not an image) become the answer, as in `deferred.process`."""
    try:
        if claim.user_id not in prompts:
            raise deferred.not_bound()
        media = outbound.download_media(claim.payload["media_id"])
        stored = uploads.store_image(media)
    except (AppError, WeChatClientException) as error:
        return Result(claim, deferred.photo_refused(error), "photo")
    return Result(claim, prompts[claim.user_id], "location", stored)


def _finish(results: list[Result]) -> list[str]:
    """One transaction for the batch (see the module docstring); the outcome of each."""
    if not results:
        return []
    openids = sorted({r.claim.openid for r in results})
    locked = {s.openid: s for s in db.session.scalars(
        sa.select(BotSession).where(BotSession.openid.in_(openids)).order_by(BotSession.openid)
        .with_for_update().execution_options(populate_existing=True))}
    ids = [r.claim.id for r in results]
    queued = set(db.session.scalars(sa.select(BotInbound.id).where(
        BotInbound.id.in_(ids), BotInbound.status == InboundStatus.QUEUED)
        .order_by(BotInbound.id).with_for_update()))
    outcomes, kept, closed, replies = [], [], [], []
    for result in results:
        claim = result.claim
        session = locked.get(claim.openid)
        if claim.id not in queued:
            outcomes.append("skipped")  # another run finished it
            continue
        closed.append(claim.id)
        if session is None or session.version != claim.payload.get("version"):
            outcomes.append("skipped")  # cancelled or timed out meanwhile: nothing else
            continue
        kept.append(result)
        outcomes.append("done")
    photos = [r for r in kept if r.stored is not None]
    uploads_of = {}
    if photos:  # one INSERT for the batch; the ids come back by storage key (unique)
        ids_back = dict(db.session.execute(sa.insert(Upload).returning(
            Upload.storage_key, Upload.id), [
            {"owner_id": r.claim.user_id, "storage_key": r.stored.storage_key,
             "content_type": r.stored.content_type, "size": r.stored.size,
             "width": r.stored.width, "height": r.stored.height} for r in photos]).all())
        uploads_of = {r.claim.id: ids_back[r.stored.storage_key] for r in photos}
    for result in kept:
        session = locked[result.claim.openid]
        upload_id = uploads_of.get(result.claim.id)
        sessions.go(session, result.step, **({"photo_ids": [upload_id]} if upload_id else {}))
        if session.user_id:
            replies.append((session.user_id, f"bot:{result.claim.id}:reply", result.text))
    if closed:
        db.session.execute(sa.update(BotInbound).where(BotInbound.id.in_(closed)).values(
            status=InboundStatus.DONE, handled_at=utcnow()))
    deliver.queue_replies(replies)
    db.session.commit()  # if it fails, the caller deletes every file of the batch
    _delete([r.stored for r in results if r.claim.id not in uploads_of])
    return outcomes


def _delete(stored: list[uploads.StoredImage | None]) -> None:
    storage = get_storage()
    for image in stored:
        if image is not None:
            storage.delete(image.storage_key)
