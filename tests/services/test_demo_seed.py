"""The demo community (`flask seed-demo`, app/services/demo/): what README "Demo data" and
the points section say it holds, and that running it again changes nothing.

The only tests that run the demo seed: every other test builds what it needs itself
(tests/fixtures/: `world`, `categories`, `backlog`, `points_history`, `stocked_shop`).
"""
from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa
import time_machine

from app import timeutil
from app.extensions import db
from app.models import (
    Building,
    Community,
    Compound,
    Department,
    Grid,
    Household,
    HouseholdTag,
    Incident,
    IncidentCategory,
    IncidentEvent,
    IncidentStatus,
    LedgerEntry,
    PartyMember,
    PartyMemberKind,
    PointsAccount,
    Reward,
    RoleGrant,
    ScopeKind,
    Street,
    User,
)
from app.models.base import utcnow
from app.services.demo.seed import seed_demo
from app.services.points import ledger as points
from app.services.points import rankings

MODELS = (Street, Community, Grid, Compound, Building, Household, HouseholdTag, Department,
          User, RoleGrant, PartyMember, IncidentCategory, Incident, IncidentEvent, PointsAccount,
          LedgerEntry, Reward)

# README "Demo data": openid -> roles with their scope (kind, name).
ROLES = {
    "demo-resident": {("resident", None)},
    "demo-resident-2": {("resident", None)},
    "demo-resident-3": {("resident", None)},
    "demo-party-member": {("resident", None), ("party_member", None)},
    "demo-grid-worker": {("grid_worker", ("grid", "第一网格"))},
    "demo-grid-worker-2": {("grid_worker", ("grid", "第二网格"))},
    "demo-secretary": {("secretary", ("compound", "虹桥小区"))},
    "demo-secretary-2": {("secretary", ("compound", "盛世华城"))},
    "demo-staff": {("staff", ("community", "示范社区"))},
    "demo-department": {("department", ("department", "城管"))},
    "demo-canteen": {("canteen_staff", ("community", "示范社区"))},
    "demo-admin": {("admin", None)},
}
SCOPES = {ScopeKind.GRID: Grid, ScopeKind.COMPOUND: Compound,
          ScopeKind.COMMUNITY: Community, ScopeKind.DEPARTMENT: Department}


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def counts() -> dict[str, int]:
    return {m.__name__: count(m) for m in MODELS}


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


@pytest.fixture
def seeded(ctx):
    """The demo seed, run once; user ids by openid."""
    seed_demo()
    return {u.openid: u.id for u in db.session.scalars(sa.select(User))}


def test_seed_demo_is_idempotent(app, ctx):
    first = run(app, "seed-demo")
    assert first.exit_code == 0, first.output
    counts = {m.__name__: count(m) for m in (User, Household, HouseholdTag, RoleGrant)}
    assert counts["User"] == 12 and 36 <= counts["Household"] <= 48
    assert counts["HouseholdTag"] > 0
    second = run(app, "seed-demo")
    assert second.exit_code == 0
    assert {m.__name__: count(m) for m in (User, Household, HouseholdTag, RoleGrant)} == counts


def test_a_second_run_adds_nothing_anywhere(ctx):
    first = seed_demo()
    assert first["incidents_added"] > 0 and first["points_entries_added"] > 0
    before = counts()
    again = seed_demo()
    assert (again["incidents_added"], again["points_entries_added"]) == (0, 0)
    assert counts() == before
    assert {k: again[k] for k in ("households", "users", "buildings")} == \
        {k: first[k] for k in ("households", "users", "buildings")}


def test_the_org_tree_is_the_documented_one(seeded, ctx):
    assert [s.name for s in db.session.scalars(sa.select(Street))] == ["岚城街道"]
    assert [c.name for c in db.session.scalars(sa.select(Community))] == ["示范社区"]
    grids = {g.id: g.name for g in db.session.scalars(sa.select(Grid))}
    assert sorted(grids.values()) == ["第一网格", "第二网格"]
    buildings = db.session.scalars(sa.select(Building).order_by(Building.id)).all()
    assert [(b.compound.name, b.name, grids[b.grid_id]) for b in buildings] == [
        ("虹桥小区", "1号楼", "第一网格"), ("虹桥小区", "2号楼", "第一网格"),
        ("虹桥小区", "3号楼", "第一网格"), ("盛世华城", "1号楼", "第二网格"),
        ("盛世华城", "2号楼", "第二网格"), ("盛世华城", "3号楼", "第二网格")]
    assert count(Compound) == 2 and count(Household) == 42
    assert count(HouseholdTag) > 0  # some households have care tags
    assert {d.name for d in db.session.scalars(sa.select(Department))} == {"城管", "住建"}


def test_the_people_have_the_documented_roles_and_homes(seeded, ctx):
    def scope(grant):
        if grant.scope_kind is None:
            return None
        return grant.scope_kind.value, db.session.get(SCOPES[grant.scope_kind],
                                                      grant.scope_id).name

    users = {u.openid: u for u in db.session.scalars(sa.select(User))}
    assert {openid: {(g.role.value, scope(g)) for g in user.grants}
            for openid, user in users.items()} == ROLES
    homes = {openid: (u.household.building.compound.name, u.household.building.name)
             for openid, u in users.items() if u.household is not None}
    hq_1, ss_1 = ("虹桥小区", "1号楼"), ("盛世华城", "1号楼")
    assert homes == {"demo-resident": hq_1, "demo-resident-2": hq_1, "demo-resident-3": ss_1,
                     "demo-party-member": hq_1}
    profile = db.session.get(PartyMember, seeded["demo-party-member"])
    assert profile.kind is PartyMemberKind.IN_SERVICE  # 在职党员, 双报到 at 示范社区
    assert db.session.get(Community, profile.registered_community_id).name == "示范社区"


def test_the_incidents_cover_every_category_and_status(seeded, ctx):
    assert count(IncidentCategory) == 9
    statuses = set(db.session.scalars(sa.select(Incident.status)))
    assert statuses == set(IncidentStatus)
    assert len(set(db.session.scalars(sa.select(Incident.category_id)))) == 9
    assert count(IncidentEvent) >= count(Incident)  # every incident has its timeline


def test_demo_seed_stocks_the_shop_and_history_once(seeded, ctx):
    entries_before = db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry))
    assert seed_demo()["points_entries_added"] == 0  # second run: nothing new
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) \
        == entries_before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Reward)) == 5
    balances = {openid: db.session.get(PointsAccount, uid).balance
                for openid, uid in seeded.items() if db.session.get(PointsAccount, uid)}
    assert balances == {"demo-resident": 60, "demo-resident-2": 10, "demo-resident-3": 20,
                        "demo-party-member": 103}
    assert db.session.get(PointsAccount, seeded["demo-resident-2"]).ranking_public is False
    assert points.verify() == []
    community = db.session.scalar(sa.select(Community.id))
    assert {r.community_id for r in db.session.scalars(sa.select(Reward))} == {community}


@pytest.mark.parametrize("now", [None, "2026-12-01T00:10:00+08:00", "2027-01-31T23:50:00+08:00"])
def test_the_points_history_is_dated_referenced_and_ranked(app, ctx, now):
    moment = datetime.fromisoformat(now) if now else utcnow()
    with time_machine.travel(moment, tick=False):
        seed_demo()
        local = timeutil.local(moment)
        this_month = timeutil.month_bounds(local.year, local.month)
        previous = timeutil.month_bounds(*((local.year, local.month - 1) if local.month > 1
                                           else (local.year - 1, 12)))
        entries = db.session.scalars(sa.select(LedgerEntry).order_by(LedgerEntry.id)).all()
        users = {u.id: u.openid for u in db.session.scalars(sa.select(User))}
        # Real dates over this month and the previous one, in the ledger's order.
        dates = [e.created_at for e in entries]
        assert dates == sorted(dates)
        assert all(previous[0] <= d <= moment for d in dates)
        assert any(d >= this_month[0] for d in dates) and any(d < this_month[0] for d in dates)
        # Each entry says what it was for; confirmations name the resident's own incident.
        details = points.ref_details(entries)
        for entry in entries:
            assert points.describe(entry, details) != entry.rule.label, entry.idempotency_key
        confirmed = [e for e in entries if e.rule.value == "incident_confirmed"]
        assert {users[e.account_id] for e in confirmed} == {"demo-resident", "demo-resident-2"}
        for entry in confirmed:
            incident = db.session.get(Incident, int(entry.ref.removeprefix("incident:")))
            assert incident.reporter_id == entry.account_id
            assert incident.status is IncidentStatus.CLOSED
        # 每月一星 has names this month, in both compounds.
        resident = db.session.scalar(sa.select(User).where(User.openid == "demo-resident"))
        ranked = rankings.rankings(resident, None, None, None, 10)
        assert ranked["month"] == f"{local.year:04d}-{local.month:02d}" and ranked["items"]
        other = db.session.scalar(sa.select(User).where(User.openid == "demo-resident-3"))
        assert rankings.rankings(other, None, None, None, 10)["items"]
        assert points.verify() == []
