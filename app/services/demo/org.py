"""Demo org tree and people: 岚城街道 → 示范社区, two grids, two compounds, six buildings,
42 households (some with care tags), two departments, and one user per role."""
from __future__ import annotations

import random
from decimal import Decimal

from app.extensions import db
from app.models import (
    Building,
    CareTag,
    Community,
    Compound,
    Department,
    Grid,
    Household,
    HouseholdMembership,
    HouseholdTag,
    MembershipStatus,
    PartyMember,
    PartyMemberKind,
    Role,
    RoleGrant,
    ScopeKind,
    Street,
    User,
    VerifiedBy,
)
from app.models.base import utcnow
from app.services.common import get_or_create

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
    for user in users.values():  # the demo's residents were verified by their grid worker
        if user.household_id is not None:
            def verified(m, household_id=user.household_id):
                m.household_id, m.verified_by = household_id, VerifiedBy.GRID_WORKER
                m.decided_at = utcnow()
            get_or_create(HouseholdMembership, user_id=user.id,
                          status=MembershipStatus.VERIFIED, init=verified)

    def init_profile(profile: PartyMember) -> None:
        profile.kind = PartyMemberKind.IN_SERVICE
        profile.registered_community_id = org["community"].id
        profile.registered_at = utcnow()
        profile.service_hours = Decimal("12.5")

    get_or_create(PartyMember, user_id=users["demo-party-member"].id, init=init_profile)
    return users
