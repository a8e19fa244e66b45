"""`flask seed-demo`: a small community to click through. Idempotent: every row is found
by its natural key before it is created, so running it twice changes nothing.

Later features add a `seed_<feature>()` step to `STEPS`.
"""
from __future__ import annotations

import random
from decimal import Decimal

from app.extensions import db
from app.models import (Building, CareTag, Community, Compound, Department, Grid, Household,
                        HouseholdTag, PartyMember, PartyMemberKind, Role, RoleGrant, ScopeKind,
                        Street, User)
from app.models.base import utcnow
from app.services.common import get_or_create
from app.services.demo_incidents import seed_incidents

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"


def seed_org() -> dict:
    street = get_or_create(Street, name="岚城街道")
    community = get_or_create(Community, street_id=street.id, name="示范社区")
    grid1 = get_or_create(Grid, community_id=community.id, name="第一网格")
    grid2 = get_or_create(Grid, community_id=community.id, name="第二网格")
    hongqiao = get_or_create(Compound, community_id=community.id, name="虹桥小区",
                             init=lambda c: setattr(c, "address", "岚城街道虹桥路 8 号"))
    shengshi = get_or_create(Compound, community_id=community.id, name="盛世华城",
                             init=lambda c: setattr(c, "address", "岚城街道迎宾大道 66 号"))
    buildings = []
    for compound, grid, lat0 in ((hongqiao, grid1, 38.7046), (shengshi, grid2, 38.7101)):
        for n in range(1, 4):
            def init(b, lat=lat0 + n * 0.0004, lng=111.5621 + n * 0.0004):
                b.lat, b.lng = lat, lng
            buildings.append(get_or_create(Building, compound_id=compound.id, grid_id=grid.id,
                                           name=f"{n}号楼", init=init))
    department = get_or_create(Department, street_id=street.id, name="城管")
    get_or_create(Department, street_id=street.id, name="住建")
    db.session.flush()
    return {"street": street, "community": community, "grids": [grid1, grid2],
            "compounds": [hongqiao, shengshi], "buildings": buildings,
            "department": department}


def seed_households(buildings: list[Building]) -> list[Household]:
    rng = random.Random(7)  # the same demo every time
    tags = list(CareTag)
    households = []
    for building in buildings:
        for unit in ("1", "2"):
            for floor in range(1, 5 if building.compound.name == "虹桥小区" else 4):
                room = f"{floor}0{unit}"
                def init(h):
                    h.head_name = rng.choice(SURNAMES) + "**"
                    if rng.random() < 0.35:
                        h.tags = [HouseholdTag(tag=t) for t in rng.sample(tags, rng.randint(1, 2))]
                households.append(get_or_create(Household, building_id=building.id,
                                                unit=unit, room=room, init=init))
    return households


def seed_users(org: dict, households: list[Household]) -> dict[str, User]:
    hongqiao, shengshi = org["compounds"]
    grid1, grid2 = org["grids"]
    first_b1 = [h for h in households if h.building_id == org["buildings"][0].id]
    in_shengshi = [h for h in households if h.building_id == org["buildings"][3].id]
    spec = [
        ("demo-resident", "张阿姨", first_b1[0], [(Role.RESIDENT, None, None)]),
        ("demo-resident-2", "李师傅", first_b1[1], [(Role.RESIDENT, None, None)]),
        ("demo-resident-3", "王大姐", in_shengshi[0], [(Role.RESIDENT, None, None)]),
        ("demo-party-member", "刘党员", first_b1[2],
         [(Role.RESIDENT, None, None), (Role.PARTY_MEMBER, None, None)]),
        ("demo-grid-worker", "赵网格", None, [(Role.GRID_WORKER, ScopeKind.GRID, grid1.id)]),
        ("demo-grid-worker-2", "孙网格", None, [(Role.GRID_WORKER, ScopeKind.GRID, grid2.id)]),
        ("demo-secretary", "周书记", None,
         [(Role.SECRETARY, ScopeKind.COMPOUND, hongqiao.id)]),
        ("demo-secretary-2", "吴书记", None,
         [(Role.SECRETARY, ScopeKind.COMPOUND, shengshi.id)]),
        ("demo-staff", "郑社工", None,
         [(Role.STAFF, ScopeKind.COMMUNITY, org["community"].id)]),
        ("demo-department", "城管队", None,
         [(Role.DEPARTMENT, ScopeKind.DEPARTMENT, org["department"].id)]),
        ("demo-canteen", "食堂陈", None,
         [(Role.CANTEEN_STAFF, ScopeKind.COMMUNITY, org["community"].id)]),
        ("demo-admin", "管理员", None, [(Role.ADMIN, None, None)]),
    ]
    users = {}
    for openid, nickname, household, grants in spec:
        def init(u, nickname=nickname, household=household):
            u.nickname = nickname
            u.household_id = household.id if household else None
        user = get_or_create(User, openid=openid, init=init)
        for role, kind, scope_id in grants:
            get_or_create(RoleGrant, user_id=user.id, role=role, scope_kind=kind,
                          scope_id=scope_id)
        users[openid] = user

    def init_profile(profile: PartyMember) -> None:
        profile.kind = PartyMemberKind.IN_SERVICE
        profile.registered_community_id = org["community"].id
        profile.registered_at = utcnow()
        profile.service_hours = Decimal("12.5")

    get_or_create(PartyMember, user_id=users["demo-party-member"].id, init=init_profile)
    return users


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
    from app.models import PointsRule, Reward
    from app.services import points

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


def seed_demo() -> dict:
    org = seed_org()
    households = seed_households(org["buildings"])
    users = seed_users(org, households)
    incidents = seed_incidents(org, users)
    points_added = seed_points(org, users)
    db.session.commit()
    return {"households": len(households), "users": len(users),
            "buildings": len(org["buildings"]), "incidents_added": incidents,
            "points_entries_added": points_added}
