"""Demo points: five rewards in 示范社区's shop and some earned history.

The history is dated over this month and the previous one (Asia/Shanghai), so 每月一星 has
both months to show; each entry says what it was for: an incident confirmation refers to
the demo incident the resident reported and confirmed (`incident:<id>`, dated when it
closed), the others carry a note (wishes and volunteering have no records of their own yet,
so no reference either).
"""
from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from app import timeutil
from app.extensions import db
from app.models import CloseReason, Incident, PointsRule, Reward, User
from app.models.base import utcnow
from app.services.common import get_or_create
from app.services.points import ledger as points

# 爱心积分超市: name, points, stock, per-user limit.
DEMO_REWARDS = [("环保购物袋", 30, 50, 2), ("洗衣液 2L", 80, 20, 1), ("理发服务券", 50, 30, 2),
                ("社区食堂早餐券", 20, 100, 5), ("鸡蛋 10 枚", 40, 40, 1)]
# Points history: openid, rule, units (hours for volunteering), note, month (0: this one,
# 1: the previous one) and how far into it (a share of the month; this month's of the part
# up to now). With DEMO_CONFIRMERS: 张阿姨 60, 李师傅 10, 王大姐 20, 刘党员 103.
DEMO_POINTS = [("demo-party-member", "wish_fulfilled", 1, "帮独居老人代购药品", 1, 0.2),
               ("demo-resident", "volunteer_hour", 10, "社区环境整治志愿服务", 1, 0.45),
               ("demo-party-member", "volunteer_hour", Decimal("12.5"), "党员先锋岗值守", 1, 0.7),
               ("demo-resident-3", "wish_fulfilled", 1, "为困难家庭孩子辅导功课", 0, 0.3),
               ("demo-party-member", "wish_fulfilled", 1, "陪伴空巢老人就医", 0, 0.6)]
# Residents awarded incident_confirmed for their latest confirmed demo incident.
DEMO_CONFIRMERS = ["demo-resident", "demo-resident-2"]


def seed_points(org: dict, users: dict[str, User]) -> int:
    """Rewards in 示范社区's shop and some earned points (keys `demo:...`: added once)."""
    for name, cost, stock, limit in DEMO_REWARDS:
        def init(r, cost=cost, stock=stock, limit=limit):
            r.cost, r.stock, r.per_user_limit = cost, stock, limit
            r.pickup_place = "示范社区党群服务中心·爱心积分超市"
        get_or_create(Reward, community_id=org["community"].id, name=name, init=init)
    now = utcnow()
    local = timeutil.local(now)
    this_month = timeutil.month_bounds(local.year, local.month)
    previous = timeutil.month_bounds(*((local.year, local.month - 1) if local.month > 1
                                       else (local.year - 1, 12)))
    windows = {0: (this_month[0], now), 1: previous}
    planned = []  # (at, openid, rule, units, ref, note)
    for openid, rule, units, note, month, share in DEMO_POINTS:
        start, end = windows[month]
        planned.append((start + (end - start) * share, openid, rule, units, None, note))
    for openid in DEMO_CONFIRMERS:
        incident = db.session.scalar(
            sa.select(Incident).where(Incident.reporter_id == users[openid].id,
                                      Incident.close_reason == CloseReason.CONFIRMED)
            .order_by(Incident.id.desc()).limit(1))
        if incident is not None and incident.closed_at is not None:
            planned.append((min(incident.closed_at, now), openid, "incident_confirmed", 1,
                            f"incident:{incident.id}", None))
        else:  # the incidents were seeded otherwise: points without a reference
            planned.append((this_month[0] + (now - this_month[0]) / 2, openid,
                            "incident_confirmed", 1, None, None))
    # Posted in time order, so the ledger's order (by id) is its dates' order too; keys
    # name each (person, rule) event, so a second run adds nothing.
    added, events = 0, {}
    for at, openid, rule, units, ref, note in sorted(planned, key=lambda p: p[0]):
        n = events[(openid, rule)] = events.get((openid, rule), -1) + 1
        rule = PointsRule(rule)
        added += points.post(users[openid].id, rule, points.amount_for(rule, units),
                             f"demo:{openid}:{rule.value}:{n}", ref=ref, note=note, at=at)[1]
    # One resident keeps their name out of the public ranking (shown as "李**").
    points.lock_account(users["demo-resident-2"].id).ranking_public = False
    return added
