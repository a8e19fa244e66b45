"""爱心积分超市: the reward shop, redemptions with pickup codes, look-up and fulfilment by
code (`find_by_code`, shared), cancel, expiry. A pickup deadline is the end of a local day.

A redemption takes points and stock in one transaction. Points are taken under the
account's row lock (see app.services.points); stock with a conditional decrement
(`stock >= quantity`), so two people cannot both get the last item. Closing a redemption
(cancel, expiry) is a conditional status change from pending, so it refunds at most once,
and the refund's ledger key (`redemption_refund:<id>`) makes that doubly sure.

Lock order (deadlock-free): account rows, then the redemption, then the reward.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from app import timeutil
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    Community,
    PointsAccount,
    PointsRule,
    Redemption,
    RedemptionStatus,
    Reward,
    Role,
    ScopeKind,
    Upload,
    User,
)
from app.models.base import utcnow
from app.services import codes
from app.services.notifications.outbox import notify
from app.services.pagination import paginate
from app.services.permissions import authorize, has_role
from app.services.points import ledger as points

PENDING = RedemptionStatus.PENDING
HELD = (RedemptionStatus.PENDING, RedemptionStatus.FULFILLED)  # count toward per-user limits
EXPIRY_BATCH = 200



def can_view_picture(user: User, upload: Upload) -> bool:
    """A reward's picture is shop-window material: anyone signed in may see it."""
    return True


# --- the shop ---------------------------------------------------------------------------

def list_rewards(user: User, community_id: int | None, include_all: bool,
                 cursor: str | None, limit: int) -> dict:
    """The shop of the user's community; staff of a community may also see what is off sale."""
    member_of = points.member_communities(user)
    if community_id is None:  # my home's community, or the one I work for
        mine = sorted(member_of) or sorted(
            g.scope_id for g in user.grants
            if g.role is Role.STAFF and g.scope_kind is ScopeKind.COMMUNITY)
        if not mine:
            return {"items": [], "next_cursor": None}
        community_id = mine[0]
    community = db.session.get(Community, community_id)
    if community is None:
        raise NotFound("社区不存在", code="community_not_found")
    staff = has_role(user, Role.STAFF, community)
    if not staff and community_id not in member_of:
        raise Forbidden("只能查看本社区的积分超市", code="not_community_member")
    query = (sa.select(Reward).options(selectinload(Reward.picture))
             .where(Reward.community_id == community_id))
    if not (include_all and staff):
        now = utcnow()
        query = query.where(Reward.active.is_(True),
                            sa.or_(Reward.starts_at.is_(None), Reward.starts_at <= now),
                            sa.or_(Reward.ends_at.is_(None), Reward.ends_at > now))
    return paginate(query, Reward.id, cursor, limit)


def create_reward(actor: User, data: dict) -> Reward:
    community = db.session.get(Community, data["community_id"])
    if community is None:
        raise NotFound("社区不存在", code="community_not_found")
    authorize(actor, Role.STAFF, community)
    data = dict(data)
    picture_id = data.pop("picture_id", None)
    reward = Reward(created_by_id=actor.id, **data)
    _check_window(reward.starts_at, reward.ends_at)
    db.session.add(reward)
    db.session.flush()
    _attach_picture(actor, reward, picture_id)
    db.session.commit()
    return reward


def update_reward(actor: User, reward_id: int, data: dict) -> Reward:
    # The row lock orders this edit with concurrent redemptions' stock decrements.
    reward = db.session.scalar(sa.select(Reward).where(Reward.id == reward_id)
                               .with_for_update().execution_options(populate_existing=True))
    if reward is None:
        raise NotFound("奖品不存在", code="reward_not_found")
    authorize(actor, Role.STAFF, reward)
    data = dict(data)
    if "picture_id" in data:
        _attach_picture(actor, reward, data.pop("picture_id"))
    for name, value in data.items():
        setattr(reward, name, value)
    _check_window(reward.starts_at, reward.ends_at)
    db.session.commit()
    return reward


def _check_window(starts_at: datetime | None, ends_at: datetime | None) -> None:
    if starts_at and ends_at and ends_at <= starts_at:
        raise ValidationFailed("结束时间应晚于开始时间", code="invalid_window",
                               errors={"ends_at": ["应晚于开始时间"]})


def _attach_picture(actor: User, reward: Reward, picture_id: int | None) -> None:
    """Set (or with None, clear) the picture: an image the staff member uploaded and has not
    attached elsewhere, or one already showing a reward (reward pictures are public). Never
    another object's image: re-pointing an incident photo would publish it."""
    if picture_id is not None:
        upload = db.session.get(Upload, picture_id)
        own_free = upload is not None and upload.owner_id == actor.id and upload.ref_kind is None
        if not (own_free or (upload is not None and upload.ref_kind == "reward")):
            raise NotFound("图片不存在", code="upload_not_found")
        upload.ref_kind, upload.ref_id = "reward", reward.id
    reward.picture_id = picture_id


# --- redeeming --------------------------------------------------------------------------

def redeem(user: User, reward_id: int, quantity: int) -> Redemption:
    """Take points and stock, hand back a pickup code. One transaction."""
    now = utcnow()
    reward = db.session.get(Reward, reward_id)
    if reward is None:
        raise NotFound("奖品不存在", code="reward_not_found")
    # Points stay with the person; spending them is for the community of the verified home.
    if reward.community_id != points.home_community(user):
        raise Forbidden("只能兑换已认证住址所在社区积分超市的奖品", code="not_community_member")
    _check_available(reward, now)
    account = points.lock_account(user.id)  # serialises this user's redemptions from here
    _check_limit(user, reward, quantity)
    cost = reward.cost * quantity
    if account.balance < cost:  # cheap refusals first, before any write
        raise points.insufficient(account.balance, cost)
    if reward.stock < quantity:
        raise _out_of_stock(reward.stock)
    # Pickup ends with a local day (the shop closes at night), not at the minute it began.
    expires_at = timeutil.end_of_day(
        now + timedelta(days=current_app.config["REDEMPTION_PICKUP_DAYS"]))
    # The code is unique among open redemptions (the partial unique index decides).
    redemption = codes.insert_with_code(Redemption, reward_id=reward.id, user_id=user.id, quantity=quantity,
                                   points=cost, status=PENDING, created_at=now,
                                   expires_at=expires_at)
    points.spend(user.id, PointsRule.REDEMPTION, redemption.id, cost,
                 note=f"{reward.name} ×{quantity}")
    notify(user, "redemption_ready", {
        "reward": reward.name, "quantity": quantity, "code": redemption.pickup_code,
        "deadline": last_pickup_moment(redemption).isoformat(), "place": reward.pickup_place,
        "redemption_id": redemption.id}, dedupe_key=f"redemption:{redemption.id}:ready")
    # Stock last: everyone redeeming this reward queues on its row lock, so it is held for
    # this one statement and the commit only. The condition is what prevents overselling.
    taken = db.session.execute(
        sa.update(Reward).where(Reward.id == reward.id, Reward.stock >= quantity)
        .values(stock=Reward.stock - quantity, updated_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if taken != 1:  # someone took the last items since we read the stock
        raise _out_of_stock(None)
    db.session.commit()
    return redemption


def _out_of_stock(stock: int | None) -> Conflict:
    return Conflict("库存不足", code="out_of_stock",
                    errors={} if stock is None else {"stock": stock})


def _check_available(reward: Reward, now: datetime) -> None:
    if not reward.active:
        raise Conflict("该奖品已下架", code="reward_inactive")
    if reward.starts_at is not None and now < reward.starts_at:
        raise Conflict("该奖品尚未开始兑换", code="reward_not_started")
    if reward.ends_at is not None and now >= reward.ends_at:
        raise Conflict("该奖品兑换已结束", code="reward_ended")


def _check_limit(user: User, reward: Reward, quantity: int) -> None:
    if reward.per_user_limit is None:
        return
    # Safe without a lock of its own: this user's account row is locked.
    held = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Redemption.quantity), 0)).where(
            Redemption.reward_id == reward.id, Redemption.user_id == user.id,
            Redemption.status.in_(HELD)))
    if held + quantity > reward.per_user_limit:
        raise Conflict(f"每人限兑 {reward.per_user_limit} 件，您已兑换 {held} 件",
                       code="redemption_limit_reached",
                       errors={"limit": reward.per_user_limit, "redeemed": held})


def my_redemptions(user: User, status: str | None, cursor: str | None, limit: int) -> dict:
    query = (sa.select(Redemption).options(selectinload(Redemption.reward))
             .where(Redemption.user_id == user.id))
    if status is not None:
        query = query.where(Redemption.status == RedemptionStatus(status))
    return paginate(query, Redemption.id, cursor, limit, descending=True)


# --- after redeeming --------------------------------------------------------------------

def last_pickup_moment(redemption: Redemption) -> datetime:
    """The last second a pickup code works, as messages show it ("12月07日 23:59"):
    `expires_at` is the next local midnight, which would read as the day after."""
    return redemption.expires_at - timedelta(seconds=1)


def find_by_code(actor: User, code: str, lock: bool = False) -> Redemption:
    """The redemption a pickup code (or its QR payload, `linli:redemption:<code>`) names,
    for staff of the reward's community: the open one, else the latest closed use of the
    code. `lock` takes the open one's row lock (to hand it over). 403 for anyone else; 404
    for an unknown code; 422 for something that is not a code."""
    if not has_role(actor, Role.STAFF):
        raise Forbidden()
    code = codes.parse(code, "redemption")  # typed, or scanned from the QR code
    query = sa.select(Redemption).where(Redemption.pickup_code == code,
                                        Redemption.status == PENDING)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    redemption = db.session.scalar(query)
    if redemption is None:  # a code is reused once closed: show the latest use of it
        redemption = db.session.scalar(sa.select(Redemption).where(
            Redemption.pickup_code == code).order_by(Redemption.id.desc()).limit(1))
    if redemption is None:
        raise NotFound("取货码不存在", code="redemption_not_found")
    authorize(actor, Role.STAFF, redemption.reward)
    return redemption


def look_up(actor: User, code: str) -> Redemption:
    """Staff look a redemption up before handing it over (reads only), with its owner."""
    redemption = find_by_code(actor, code)
    redemption.owner = db.session.get(User, redemption.user_id)
    redemption.collectable = redemption.status is PENDING and redemption.expires_at > utcnow()
    return redemption


def fulfil(actor: User, code: str) -> Redemption:
    """Staff hand the reward over against its pickup code, once."""
    redemption = find_by_code(actor, code, lock=True)
    if redemption.status is RedemptionStatus.FULFILLED:
        raise Conflict("该兑换已领取", code="redemption_already_fulfilled")
    if redemption.status is not PENDING:
        raise Conflict(f"该兑换{redemption.status.label}", code="redemption_closed")
    now = utcnow()
    if redemption.expires_at <= now:  # the expiry job refunds it
        raise Conflict("该兑换已过领取期限", code="redemption_expired")
    redemption.status, redemption.fulfilled_at = RedemptionStatus.FULFILLED, now
    redemption.fulfilled_by_id = actor.id
    db.session.commit()
    return redemption


def cancel(user: User, redemption_id: int) -> Redemption:
    """The owner gives a redemption back before pickup: points and stock return."""
    redemption = db.session.get(Redemption, redemption_id)
    if redemption is None or redemption.user_id != user.id:
        raise NotFound("兑换记录不存在", code="redemption_not_found")
    points.lock_account(user.id)
    if not _close(redemption, RedemptionStatus.CANCELLED, utcnow()):
        raise Conflict(f"该兑换{redemption.status.label}，不能取消",
                       code="redemption_not_cancellable")
    db.session.commit()
    return redemption


def _close(redemption: Redemption, status: RedemptionStatus, now: datetime) -> bool:
    """Pending -> cancelled/expired, refunding points and stock; False if no longer pending.
    The caller holds the owner's account lock (lock order: account, redemption, reward)."""
    closed = db.session.execute(
        sa.update(Redemption).where(Redemption.id == redemption.id, Redemption.status == PENDING)
        .values(status=status, closed_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if closed != 1:
        db.session.refresh(redemption, ["status"])  # what it became meanwhile
        return False
    set_committed_value(redemption, "status", status)  # as written: no reload per row
    set_committed_value(redemption, "closed_at", now)
    reward = redemption.reward
    points.refund(redemption.user_id, PointsRule.REDEMPTION_REFUND, redemption.id,
                  redemption.points, note=f"{reward.name} ×{redemption.quantity}"
                  f"（{status.label}）")
    db.session.execute(sa.update(Reward).where(Reward.id == reward.id)
                       .values(stock=Reward.stock + redemption.quantity, updated_at=now)
                       .execution_options(synchronize_session=False))
    db.session.expire(reward, ["stock", "updated_at"])
    return True


def expire_due(now: datetime | None = None, batch: int = EXPIRY_BATCH) -> dict:
    """Close redemptions not collected in time, refunding points and stock (flushes only).

    The owners' accounts are locked first, all of them, in id order, so this batch keeps the
    lock order against redemptions running at the same time.
    """
    now = now or utcnow()
    due = list(db.session.scalars(
        sa.select(Redemption).options(selectinload(Redemption.reward))
        .where(Redemption.status == PENDING, Redemption.expires_at <= now)
        .order_by(Redemption.id).limit(batch)))
    owners = sorted({r.user_id for r in due})
    if owners:
        db.session.execute(sa.select(PointsAccount.user_id)
                           .where(PointsAccount.user_id.in_(owners))
                           .order_by(PointsAccount.user_id).with_for_update())
    expired = refunded = 0
    for redemption in due:
        if not _close(redemption, RedemptionStatus.EXPIRED, now):
            continue  # cancelled or fulfilled meanwhile
        expired, refunded = expired + 1, refunded + redemption.points
        notify(redemption.user_id, "redemption_expired", {
            "reward": redemption.reward.name, "points": redemption.points,
            "at": now.isoformat()}, dedupe_key=f"redemption:{redemption.id}:expired")
    return {"expired": expired, "points_refunded": refunded, "more": len(due) == batch}
