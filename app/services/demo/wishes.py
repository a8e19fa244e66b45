"""Demo 微心愿: a dozen wishes in 示范社区, one or more in every state, with timelines that
read like the real flow.

Rows are written directly (no WeChat content check: `flask seed-demo` runs before the
sandbox starts). The three completed wishes are the ones the points history already counts
(刘党员 twice, 王大姐 once, app/services/demo/points.py), so they add no ledger entries.
Added once: nothing is written when the community has wishes already.
"""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.models import (
    CheckMethod,
    Household,
    PointsRule,
    User,
    Wish,
    WishCategory,
    WishEvent,
    WishKeys,
    WishStatus,
)
from app.models.base import utcnow
from app.services.points import ledger as points

S = WishStatus
# requester openid (or None: posted by 赵网格 for the household of 1号楼 2单元 102), title,
# category, campaign, status, claimer openid, days ago it was posted.
WISHES = [
    ("demo-resident", "想学用智能手机挂号", "tutoring", None, S.PENDING_REVIEW, None, 1),
    ("demo-resident-2", "帮忙修理阳台晾衣架", "repair", "睦邻日", S.PUBLISHED, None, 3),
    (None, "陪王奶奶去医院复查", "companionship", "重阳节", S.PUBLISHED, None, 2),
    ("demo-resident", "帮忙买一袋大米", "supplies", None, S.CLAIMED, "demo-party-member", 4),
    ("demo-resident-2", "代取一下快递", "errand", None, S.FULFILLED, "demo-resident-3", 5),
    ("demo-resident", "换一个楼道灯泡", "repair", None, S.COMPLETED, "demo-party-member", 20),
    ("demo-resident-2", "辅导孩子数学作业", "tutoring", None, S.COMPLETED, "demo-party-member", 15),
    (None, "帮王奶奶买降压药", "errand", "重阳节", S.COMPLETED, "demo-resident-3", 12),
    ("demo-resident-2", "帮我找一份工作", "other", None, S.REJECTED, None, 9),
    ("demo-resident", "借用一下轮椅", "supplies", None, S.CANCELLED, None, 8),
    ("demo-resident-3", "周末陪孩子读绘本", "tutoring", None, S.EXPIRED, None, 40),
]
DESCRIPTIONS = {"supplies": "腿脚不便，想请邻居帮忙", "companionship": "家里老人独自在家，想有人陪伴",
                "repair": "自己不会修，想请会修的邻居帮忙", "errand": "行动不便，想请人代办",
                "tutoring": "想请有空的志愿者帮忙", "other": "想请社区帮忙想想办法"}
# How far along each status got: the actions after `post`.
FLOW = {S.PENDING_REVIEW: [], S.PUBLISHED: ["approve"], S.CLAIMED: ["approve", "claim"],
        S.FULFILLED: ["approve", "claim", "fulfil"],
        S.COMPLETED: ["approve", "claim", "fulfil", "confirm"], S.REJECTED: ["reject"],
        S.CANCELLED: ["approve", "cancel"], S.EXPIRED: ["approve", "expire"]}
AFTER = {"post": S.PENDING_REVIEW, "approve": S.PUBLISHED, "claim": S.CLAIMED,
         "fulfil": S.FULFILLED, "confirm": S.COMPLETED, "reject": S.REJECTED,
         "cancel": S.CANCELLED, "expire": S.EXPIRED}


def seed_wishes(org: dict, users: dict[str, User]) -> int:
    community = org["community"]
    if db.session.scalar(sa.select(sa.func.count()).select_from(WishKeys).where(
            WishKeys.community_id == community.id)):
        return 0
    worker, secretary = users["demo-grid-worker"], users["demo-secretary"]
    elder = db.session.scalar(sa.select(Household).where(
        Household.building_id == org["buildings"][0].id, Household.unit == "2",
        Household.room == "102"))
    config, now = current_app.config, utcnow()
    for requester, title, category, campaign, status, claimer, days in WISHES:
        person = users[requester] if requester else None
        household = person.household if person else elder
        building = household.building
        at = now - timedelta(days=days)
        wish = Wish(household_id=household.id, building_id=building.id,
                    grid_id=building.grid_id, compound_id=building.compound_id,
                    community_id=community.id, requester_id=person.id if person else None,
                    poster_id=(person or worker).id, on_behalf=person is None,
                    consent_recorded=person is None, title=title,
                    description=DESCRIPTIONS[category], category=WishCategory(category),
                    campaign=campaign, photo_ids=[],
                    points=points.rule_points(PointsRule.WISH_FULFILLED), status=status,
                    created_at=at)
        helper = users[claimer] if claimer else None
        wish.claimer_id = helper.id if helper else None  # CHECK: a claimed wish has a claimer
        db.session.add(wish)
        db.session.flush()
        secretary_of = secretary if building.compound_id == org["compounds"][0].id \
            else users["demo-secretary-2"]
        _replay(wish, FLOW[status], person or worker, secretary_of, helper, at, config)
    return len(WISHES)


def _replay(wish, actions, requester, secretary, claimer, at, config) -> None:
    before = None

    def event(actor, action, note=None, hours=6):
        nonlocal at, before
        at += timedelta(hours=hours)
        db.session.add(WishEvent(wish_id=wish.id, actor_id=actor.id if actor else None,
                                 action=action, note=note, from_status=before,
                                 to_status=AFTER[action].value, photo_ids=[], created_at=at))
        before = AFTER[action].value
        return at

    days = lambda name: timedelta(days=config[name])  # noqa: E731 - a local shorthand
    event(requester, "post", wish.description, hours=0)
    for action in actions:
        if action == "approve":
            wish.published_at = event(secretary, "approve", "已电话核实")
            wish.check_method, wish.reviewed_by_id = CheckMethod.PHONE, secretary.id
            wish.due_at = wish.published_at + days("WISH_EXPIRY_DAYS")
        elif action == "reject":
            wish.closed_at = event(secretary, "reject", "超出微心愿范围，已转社区就业服务")
            wish.close_note, wish.reviewed_by_id = "超出微心愿范围，已转社区就业服务", secretary.id
        elif action == "claim":
            wish.claimer_id, wish.claim_count = claimer.id, 1
            wish.claimed_at = event(claimer, "claim", hours=20)
            wish.claim_expires_at = wish.claimed_at + days("WISH_CLAIM_DAYS")
            wish.due_at = wish.claimed_at + days("WISH_CLAIM_REMIND_DAYS")
        elif action == "fulfil":
            wish.fulfilled_at = event(claimer, "fulfil", "已经办好了", hours=30)
            wish.due_at = wish.fulfilled_at + days("WISH_CONFIRM_DAYS")
        elif action == "confirm":
            wish.completed_at = event(requester, "confirm",
                                      "已电话回访，确认完成" if wish.on_behalf else None, hours=10)
            wish.due_at = None
        elif action == "cancel":
            wish.closed_at = event(requester, "cancel", "已经借到了", hours=24)
            wish.due_at = None
        elif action == "expire":
            wish.closed_at = event(None, "expire", "长时间无人认领，已过期",
                                   hours=24 * config["WISH_EXPIRY_DAYS"])
            wish.due_at = None
