"""Demo points: five rewards in 示范社区's shop and some earned history."""
from __future__ import annotations

from decimal import Decimal

from app.models import PointsRule, Reward, User
from app.services.common import get_or_create
from app.services.points import ledger as points

# 爱心积分超市: name, points, stock, per-user limit.
DEMO_REWARDS = [("环保购物袋", 30, 50, 2), ("洗衣液 2L", 80, 20, 1), ("理发服务券", 50, 30, 2),
                ("社区食堂早餐券", 20, 100, 5), ("鸡蛋 10 枚", 40, 40, 1)]
# Points history: openid, rule, units (hours for volunteering), events.
DEMO_POINTS = [("demo-resident", "incident_confirmed", 1, 2),
               ("demo-resident", "volunteer_hour", 8, 1),
               ("demo-resident-2", "incident_confirmed", 1, 1),
               ("demo-resident-3", "wish_fulfilled", 1, 1),
               ("demo-party-member", "volunteer_hour", Decimal("12.5"), 1),
               ("demo-party-member", "wish_fulfilled", 1, 2)]


def seed_points(org: dict, users: dict[str, User]) -> int:
    """Rewards in 示范社区's shop and some earned points (keys `demo:...`: added once)."""
    for name, cost, stock, limit in DEMO_REWARDS:
        def init(r, cost=cost, stock=stock, limit=limit):
            r.cost, r.stock, r.per_user_limit = cost, stock, limit
            r.pickup_place = "示范社区党群服务中心·爱心积分超市"
        get_or_create(Reward, community_id=org["community"].id, name=name, init=init)
    added = 0
    for openid, rule, units, events in DEMO_POINTS:
        for n in range(events):
            added += points.award(users[openid], PointsRule(rule), None, units=units,
                                  key=f"demo:{openid}:{rule}:{n}")[1]
    # One resident keeps their name out of the public ranking (shown as "李**").
    points.lock_account(users["demo-resident-2"].id).ranking_public = False
    return added
