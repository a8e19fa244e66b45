"""The wish state machine: one table of transitions, one function that applies them.

pending_review → published (approve) → claimed (claim) → fulfilled (fulfil) → completed
(confirm); rejected (reject), cancelled (cancel) and expired (the expiry job) end it early.
`release` (the claimer, the secretary or the claim timer) and `dispute` (the requester:
fulfilled → claimed) undo a claim that is not working, so no claim blocks a wish forever
and a fulfilment that never happened is not confirmed. Every action checks state, then role
(`check`: 409 `invalid_transition` naming the current state when the state does not allow
the action, whoever asks; 403 when it does and the user may not; a wish the user may not
see is 404), writes a timeline event and queues its notifications in the same transaction.

Points go to the claimer exactly once, at `completed` (ledger key `wish_fulfilled:<id>`);
no timer ever completes a wish.

Lock order: the wish row (`SELECT ... FOR UPDATE`), then the claimer's user row (their
count of active claims), then the claimer's points account (the award).
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.models import CheckMethod, PointsRule, Role, User, Wish, WishStatus
from app.models.base import utcnow
from app.services import moderation, transitions
from app.services.permissions import has_role
from app.services.points import ledger as points
from app.services.transitions import Rule
from app.services.uploads import attach, own_photos
from app.services.wishes import access
from app.services.wishes.timeline import record, tell_claimer, tell_requester, tell_secretaries

S = WishStatus
OPEN = (S.PENDING_REVIEW, S.PUBLISHED, S.CLAIMED, S.FULFILLED)
CANCELLERS = (Role.SECRETARY, Role.STAFF)
REQUESTER_CANCELS = (S.PENDING_REVIEW, S.PUBLISHED)  # the requester cancels before a claim


def _days(setting: str) -> timedelta:
    return timedelta(days=current_app.config[setting])


def stamp(moment: datetime) -> str:
    """A moment as part of a dedupe key (a fulfilment, a claim window)."""
    return moment.strftime("%Y%m%d%H%M%S%f")


def _secretary(user: User, wish: Wish) -> bool:
    return has_role(user, Role.SECRETARY, wish)


def _reviewer(user: User, wish: Wish) -> bool:
    """The compound's secretary, for a wish not their own (one they posted for a household
    they checked themselves is theirs to approve)."""
    return _secretary(user, wish) and user.id != wish.requester_id


def _claimer(user: User, wish: Wish) -> bool:
    return wish.claimer_id == user.id


def _fulfiller(user: User, wish: Wish) -> bool:
    """The claimer, while still outside the requester's household (see `_confirm`)."""
    return _claimer(user, wish) and not access.on_requesting_side(user, wish)


def _claimer_or_secretary(user: User, wish: Wish) -> bool:
    return _claimer(user, wish) or _secretary(user, wish)


def may_confirm(user: User, wish: Wish) -> bool:
    """The requester confirms (or disputes). For a household posted for, its grid worker or
    the compound's secretary does; for a resident's wish left unconfirmed (the secretary's
    queue), the secretary may, having asked them. Never the claimer."""
    if user.id == wish.claimer_id:
        return False
    if not wish.on_behalf:
        return user.id == wish.requester_id or (
            wish.unconfirmed_at is not None and _secretary(user, wish))
    return has_role(user, (Role.GRID_WORKER, Role.SECRETARY), wish)


def _canceller(user: User, wish: Wish) -> bool:
    return access.is_requester(user, wish) or has_role(user, CANCELLERS, wish)


TRANSITIONS: dict[str, Rule] = {
    "approve": Rule((S.PENDING_REVIEW,), _reviewer),
    "reject": Rule((S.PENDING_REVIEW,), _reviewer),
    "claim": Rule((S.PUBLISHED,), access.is_volunteer),
    "release": Rule((S.CLAIMED,), _claimer_or_secretary),
    "fulfil": Rule((S.CLAIMED,), _fulfiller, checks_text=True),
    "confirm": Rule((S.FULFILLED,), may_confirm),
    "dispute": Rule((S.FULFILLED,), may_confirm, checks_text=True),
    # The requester before a claim, the secretary or staff at any time (with a reason):
    # `_cancel` refuses the requester once the wish is claimed.
    "cancel": Rule(OPEN, _canceller),
}


# How the timeline names each event, in Chinese (the table's actions and the timers').
LABELS = {"post": "发布心愿", "hold_for_review": "内容待人工审核", "approve": "审核通过",
          "reject": "审核未通过", "claim": "认领", "release": "释放认领",
          "claim_expired": "认领超时，自动释放", "fulfil": "完成，待确认", "confirm": "确认完成",
          "dispute": "提出异议", "cancel": "取消", "expire": "无人认领，已过期",
          "unconfirmed": "超时未确认，转小区书记跟进"}


def available(user: User, wish: Wish) -> list[str]:
    """The actions `user` may take on `wish` now (for the detail's buttons)."""
    return [action for action, rule in TRANSITIONS.items()
            if wish.status in rule.sources and rule.who(user, wish)
            and not (action == "cancel" and wish.status not in REQUESTER_CANCELS
                     and not has_role(user, CANCELLERS, wish))]


def check(user: User, wish: Wish, action: str) -> Rule:
    """The house rule's order: an action the wish's state does not allow is 409
    `invalid_transition` naming the state, whoever asks (a claimer whose claim was released
    and who then fulfils a published wish learns it is published again); 403 only when the
    state allows the action and the user may not take it."""
    if wish.status not in TRANSITIONS[action].sources:
        raise Conflict(f"当前状态为“{wish.status.label}”，不能执行此操作",
                       code="invalid_transition", errors={"status": wish.status.value})
    return transitions.check(TRANSITIONS, action, user, wish, "心愿")


def transition(user: User, wish_id: int, action: str, note: str | None = None,
               photo_ids: list[int] | None = None, check_method: str | None = None) -> Wish:
    wish = access.get_visible(user, wish_id, for_update=True)
    rule = check(user, wish, action)
    photo_ids = photo_ids or []
    if rule.checks_text and note and not has_role(user, access.MANAGERS, wish):
        own_photos(user, photo_ids)  # bad input fails before the remote call
        moderation.require_pass(user, note)  # ends the transaction: lock and check again
        wish = access.get_visible(user, wish_id, for_update=True)
        check(user, wish, action)
    photos = own_photos(user, photo_ids)
    before = wish.status
    APPLY[action](user, wish, note=note, photos=photos, check_method=check_method)
    if rule.records:
        record(wish, user, action, before, note=note,
               photo_ids=attach(photos, "wish", wish.id))
    db.session.commit()
    return wish


def _require(value, field: str, message: str):
    if value in (None, "", []):
        raise ValidationFailed(message, code="validation_error",
                               errors={"json": {field: [message]}})
    return value


def claim_window(wish: Wish, now: datetime) -> None:
    """A claim (or a claim given back after a dispute) lasts WISH_CLAIM_DAYS from now; the
    claim job reminds at WISH_CLAIM_REMIND_DAYS, then releases it."""
    wish.claim_expires_at = now + _days("WISH_CLAIM_DAYS")
    remind_at = now + _days("WISH_CLAIM_REMIND_DAYS")
    wish.due_at = remind_at if remind_at < wish.claim_expires_at else wish.claim_expires_at


def _approve(user, wish, check_method, **_):
    try:
        method = CheckMethod(_require(check_method, "check_method", "请选择核实方式（电话或上门）"))
    except ValueError:
        raise ValidationFailed("核实方式应为 phone 或 visit", code="validation_error",
                               errors={"json": {"check_method": ["取值无效"]}}) from None
    now = utcnow()
    wish.status, wish.check_method, wish.reviewed_by_id = S.PUBLISHED, method, user.id
    wish.published_at, wish.due_at = now, now + _days("WISH_EXPIRY_DAYS")
    tell_requester(wish, "approved", S.PUBLISHED.label, "审核通过，已发布到心愿墙")


def _reject(user, wish, note, **_):
    reason = _require(note, "note", "请说明不通过的原因")
    wish.status, wish.reviewed_by_id = S.REJECTED, user.id
    _close(wish, reason)
    tell_requester(wish, "rejected", S.REJECTED.label, reason)


def _close(wish: Wish, note: str | None) -> None:
    wish.closed_at, wish.close_note, wish.due_at = utcnow(), note, None


def _claim(user, wish, **_):
    # The claimer's row serialises their claims: four at once cannot all be the third.
    db.session.execute(sa.select(User.id).where(User.id == user.id).with_for_update())
    limit = current_app.config["WISH_ACTIVE_CLAIMS"]
    active = db.session.scalar(sa.select(sa.func.count()).select_from(Wish).where(
        Wish.claimer_id == user.id, Wish.status == S.CLAIMED))
    if active >= limit:
        raise Conflict(f"每人同时最多认领 {limit} 个心愿，请先完成已认领的", code="claim_limit_reached",
                       errors={"limit": limit})
    now = utcnow()
    wish.status, wish.claimer_id, wish.claimed_at = S.CLAIMED, user.id, now
    wish.claim_count += 1
    claim_window(wish, now)
    tell_requester(wish, f"claimed-{wish.claim_count}", S.CLAIMED.label,
                   f"{user.nickname}认领了这个心愿，会与您联系")


RELEASED_NOTE = "认领已释放，心愿重新等待认领"  # the requester's side, whoever released it


def released(now: datetime) -> dict:
    """The columns a release sets, for one wish here and for a batch in the claim job: the
    claim ends, the contact with it, and the wish waits another WISH_EXPIRY_DAYS."""
    return {"status": S.PUBLISHED, "claimer_id": None, "claimed_at": None,
            "claim_expires_at": None, "fulfilled_at": None, "unconfirmed_at": None,
            "due_at": now + _days("WISH_EXPIRY_DAYS")}


def release(wish: Wish, actor: User, note: str | None, event: str) -> None:
    """Back to the wall (flushes); the requester's side is told, and the claimer unless
    they released it themselves."""
    claimer_id = wish.claimer_id
    for column, value in released(utcnow()).items():
        setattr(wish, column, value)
    key = f"{event}-{wish.claim_count}"
    tell_requester(wish, key, S.PUBLISHED.label, RELEASED_NOTE)
    if actor.id != claimer_id:
        tell_claimer(claimer_id, wish, key, "已释放", note or "认领已被释放")


def _release(user, wish, note, **_):
    if not _claimer(user, wish):
        _require(note, "note", "请说明释放认领的原因")
    release(wish, user, note, "released")


def _fulfil(user, wish, note, photos, **_):
    _require(photos, "photo_ids", "请上传至少一张完成心愿的照片")
    now = utcnow()
    wish.status, wish.fulfilled_at = S.FULFILLED, now
    wish.due_at = now + _days("WISH_CONFIRM_DAYS")
    tell_requester(wish, f"fulfilled-{stamp(now)}", S.FULFILLED.label,
                   note or "认领人已完成，请确认")


def _confirm(user, wish, note, **_):
    if user.id != wish.requester_id:  # on the household's or the requester's behalf
        _require(note, "note", "代为确认时请说明核实情况")
    if access.on_requesting_side(wish.claimer, wish):  # joined the household since
        raise Conflict("认领人已是本户成员，不能获得积分，请联系小区书记处理",
                       code="claimer_in_household")
    wish.status, wish.completed_at = S.COMPLETED, utcnow()
    wish.due_at = None
    entry, _ = points.award(wish.claimer_id, PointsRule.WISH_FULFILLED, wish.id, note=wish.title)
    wish.points = entry.amount  # what was awarded (the rule's amount at completion)
    tell_claimer(wish.claimer_id, wish, "completed", S.COMPLETED.label,
                 f"感谢您的帮助，获得 {entry.amount} 积分")


def _dispute(user, wish, note, **_):
    reason = _require(note, "note", "请说明还有什么没有完成")
    event = f"disputed-{stamp(wish.fulfilled_at)}"  # one dispute per fulfilment
    wish.status, wish.fulfilled_at, wish.unconfirmed_at = S.CLAIMED, None, None
    claim_window(wish, utcnow())
    tell_claimer(wish.claimer_id, wish, event, "有异议", reason)
    tell_secretaries(wish, event, "有异议", reason)


def _cancel(user, wish, note, **_):
    manager = has_role(user, CANCELLERS, wish)
    if not manager and wish.status not in REQUESTER_CANCELS:
        raise Conflict(f"当前状态为“{wish.status.label}”，已有人认领，请联系小区书记取消",
                       code="invalid_transition", errors={"status": wish.status.value})
    if manager and not access.is_requester(user, wish):
        _require(note, "note", "请说明取消的原因")
    claimer_id = wish.claimer_id if wish.status in access.HOLDING else None
    wish.status = S.CANCELLED
    _close(wish, note)
    if not access.is_requester(user, wish):
        tell_requester(wish, "cancelled", S.CANCELLED.label, note)
    tell_claimer(claimer_id, wish, "cancelled", S.CANCELLED.label, note or "心愿已取消")


APPLY = {"approve": _approve, "reject": _reject, "claim": _claim, "release": _release,
         "fulfil": _fulfil, "confirm": _confirm, "dispute": _dispute, "cancel": _cancel}
assert set(APPLY) == set(TRANSITIONS) <= set(LABELS)
