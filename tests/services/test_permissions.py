"""The role/scope helper, over every demo role and the places it may or may not act."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.errors import Forbidden
from app.extensions import db
from app.models import Building, Community, Compound, Department, Grid, Role, User
from app.services.permissions import authorize, has_role

HQ_B1 = ("building", "虹桥小区", "1号楼")
SS_B1 = ("building", "盛世华城", "1号楼")
HQ = ("compound", "虹桥小区")
SS = ("compound", "盛世华城")
GRID1 = ("grid", 0)
COMMUNITY = ("community",)
CHENGGUAN = ("department", "城管")
ZHUJIAN = ("department", "住建")
TARGETS = [HQ_B1, SS_B1, HQ, SS, GRID1, COMMUNITY, CHENGGUAN, ZHUJIAN]

# openid, role checked, the targets it covers (all others: not covered)
CASES = [
    ("demo-resident", Role.RESIDENT, {HQ_B1, HQ}),
    ("demo-resident-3", Role.RESIDENT, {SS_B1, SS}),
    ("demo-party-member", Role.PARTY_MEMBER, {HQ_B1, HQ}),
    ("demo-grid-worker", Role.GRID_WORKER, {HQ_B1, GRID1}),
    ("demo-grid-worker-2", Role.GRID_WORKER, {SS_B1}),
    ("demo-secretary", Role.SECRETARY, {HQ_B1, HQ}),
    ("demo-secretary-2", Role.SECRETARY, {SS_B1, SS}),
    ("demo-staff", Role.STAFF, {HQ_B1, SS_B1, HQ, SS, GRID1, COMMUNITY}),
    ("demo-department", Role.DEPARTMENT, {CHENGGUAN}),
    ("demo-canteen", Role.CANTEEN_STAFF, {HQ_B1, SS_B1, HQ, SS, GRID1, COMMUNITY}),
    ("demo-admin", Role.ADMIN, set(TARGETS)),
]


def resolve(target):
    kind = target[0]
    if kind == "building":
        return db.session.scalar(sa.select(Building).join(Compound).where(
            Compound.name == target[1], Building.name == target[2]))
    if kind == "compound":
        return db.session.scalar(sa.select(Compound).where(Compound.name == target[1]))
    if kind == "grid":
        return db.session.scalars(sa.select(Grid).order_by(Grid.id)).all()[target[1]]
    if kind == "community":
        return db.session.scalar(sa.select(Community))
    return db.session.scalar(sa.select(Department).where(Department.name == target[1]))


def user(openid: str) -> User:
    return db.session.scalar(sa.select(User).where(User.openid == openid))


@pytest.mark.parametrize("openid, role, covered", CASES, ids=[c[0] for c in CASES])
def test_role_scope_coverage(world, ctx, openid, role, covered):
    actor = user(openid)
    for target in TARGETS:
        expected = target in covered
        assert has_role(actor, role, resolve(target)) is expected, (openid, target)
        if not expected:
            with pytest.raises(Forbidden):
                authorize(actor, role, resolve(target))


NON_ADMIN = [c for c in CASES if c[1] is not Role.ADMIN]


@pytest.mark.parametrize("openid, role, _", NON_ADMIN, ids=[c[0] for c in NON_ADMIN])
def test_a_role_is_not_another_role(world, ctx, openid, role, _):
    """Admin holds every role everywhere; everyone else holds only what was granted."""
    actor = user(openid)
    for other in Role:
        if other in (role, Role.ADMIN) or other in actor.roles:
            continue
        assert not has_role(actor, other), (openid, other)
        assert not has_role(actor, other, resolve(HQ_B1)), (openid, other)


def test_resident_without_household_covers_nothing(world, ctx):
    newcomer = User(openid="newcomer")
    from app.models import RoleGrant
    newcomer.grants.append(RoleGrant(role=Role.RESIDENT))
    db.session.add(newcomer)
    db.session.flush()
    assert has_role(newcomer, Role.RESIDENT)
    assert not any(has_role(newcomer, Role.RESIDENT, resolve(t)) for t in TARGETS)
