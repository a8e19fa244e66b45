"""Helpers shared by the points, rewards and points-concurrency tests."""
from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa

from app.extensions import db
from app.models import (
    Community,
    PointsAccount,
    PointsRule,
    Reward,
    Role,
    RoleGrant,
    ScopeKind,
    Street,
    User,
)
from app.services.points import ledger as points


def in_app(app, fn):
    """Run fn() in a fresh app context (its own session) and return its result: route tests
    keep the test's own session out of the requests' way."""
    with app.app_context():
        try:
            return fn()
        finally:
            db.session.remove()


def give(app, user_id: int, amount: int) -> None:
    """Put points on an account (a committed ledger entry)."""
    def work():
        points.post(user_id, PointsRule.ADJUSTMENT, amount, f"test:{uuid.uuid4().hex}")
        db.session.commit()
    in_app(app, work)


def balance(app, user_id: int) -> int:
    return in_app(app, lambda: db.session.scalar(
        sa.select(PointsAccount.balance).where(PointsAccount.user_id == user_id)) or 0)


def count(app, model, *where) -> int:
    return in_app(app, lambda: db.session.scalar(
        sa.select(sa.func.count()).select_from(model).where(*where)))


def make_reward(app, community_id: int, *, cost: int = 10, stock: int = 100,
                per_user_limit: int | None = None, active: bool = True,
                starts_at: datetime | None = None, ends_at: datetime | None = None,
                name: str = "测试奖品") -> int:
    def work():
        reward = Reward(community_id=community_id, name=name, cost=cost, stock=stock,
                        per_user_limit=per_user_limit, active=active, starts_at=starts_at,
                        ends_at=ends_at, pickup_place="社区服务站")
        db.session.add(reward)
        db.session.commit()
        return reward.id
    return in_app(app, work)


def stock(app, reward_id: int) -> int:
    return in_app(app, lambda: db.session.get(Reward, reward_id).stock)


def other_community_staff(app, openid: str = "other-staff") -> int:
    """A second community with its own staff member (who has logged in before)."""
    def work():
        street = db.session.scalar(sa.select(Street)) or Street(name="别的街道")
        community = Community(street=street, name="另一个社区")
        db.session.add(community)
        db.session.flush()
        user = db.session.scalar(sa.select(User).where(User.openid == openid))
        db.session.add(RoleGrant(user_id=user.id, role=Role.STAFF,
                                 scope_kind=ScopeKind.COMMUNITY, scope_id=community.id))
        db.session.commit()
        return community.id
    return in_app(app, work)
