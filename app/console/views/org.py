"""The org tree (community → compounds → buildings, and grids) and the household roster,
through app.services.orgtree and the care-tag service (app.services.visits.care).

Who sees and edits what is the services' rule: the tree and households to whoever manages
them (grid worker: their grid's buildings; secretary: their compound; staff: the
community), edits of the tree to the community's staff. Care tags appear only where
`visits.access.manages` says so. Every edit form carries the row's version
(app.console.edits) and every write is audited with before/after."""
from __future__ import annotations

import sqlalchemy as sa
from flask import g, redirect, render_template, request, url_for

from app.console import audit
from app.console.edits import (
    checked,
    chosen_community,
    created,
    integer,
    number,
    saved,
    text,
    version,
)
from app.console.web import bp
from app.errors import ValidationFailed
from app.extensions import db
from app.models import Building, CareTag, Compound, Grid, Household, HouseholdTag, Role
from app.schemas.common import mask_phone
from app.services import orgtree, people
from app.services.permissions import has_role
from app.services.visits import access, care

COMPOUND_FIELDS = ("name", "address", "version")
GRID_FIELDS = ("name", "version")
BUILDING_FIELDS = ("name", "grid_id", "lat", "lng", "version")


@bp.context_processor
def _nav():
    user = g.get("console_user")
    return {"nav_org": user is not None and has_role(user, access.MANAGING_ROLES),
            "nav_community_desk": user is not None and has_role(user, Role.STAFF)}


@bp.get("/org")
def org():
    """The org tree: compounds with their buildings, and grids"""
    user = g.console_user
    communities = orgtree.visible_communities(user)
    chosen = chosen_community(communities)
    tree = orgtree.tree(user, chosen) if chosen is not None else None
    return render_template("console/org.html", communities=communities, tree=tree)


def _back_to_tree(community_id: int):
    return redirect(url_for("console.org", community=community_id))


# --- compounds ---------------------------------------------------------------------------

@bp.post("/org/compounds")
def create_compound():
    """Create a compound (the community's staff)"""
    user, community_id = g.console_user, integer("community_id", "社区")
    compound = created(user, "compound_create", COMPOUND_FIELDS, lambda: orgtree.create_compound(
        user, community_id, text("name"), text("address")))
    return _back_to_tree(compound.community_id)


def _compound_page(compound_id: int) -> str:
    user = g.console_user
    compound = orgtree.get_compound(user, compound_id)
    return render_template("console/org_compound.html", compound=compound,
                           can_edit=has_role(user, orgtree.EDITOR, compound),
                           tree=orgtree.tree(user, compound.community_id))


@bp.get("/org/compounds/<int:compound_id>")
def compound(compound_id: int):
    """A compound: edit its name and address, add a building"""
    return _compound_page(compound_id)


@bp.post("/org/compounds/<int:compound_id>")
def edit_compound(compound_id: int):
    """Save a compound (version-checked)"""
    user, submitted = g.console_user, version()
    work = checked(Compound, compound_id, submitted, lambda: orgtree.update_compound(
        user, compound_id, text("name"), text("address")))
    stale = saved(lambda: audit.audited(user.id, "compound_update", Compound, compound_id,
                                        COMPOUND_FIELDS, work),
                  lambda: _compound_page(compound_id), "小区已保存")
    return stale or redirect(url_for("console.compound", compound_id=compound_id))


# --- grids -------------------------------------------------------------------------------

@bp.post("/org/grids")
def create_grid():
    """Create a grid (the community's staff)"""
    user, community_id = g.console_user, integer("community_id", "社区")
    grid = created(user, "grid_create", GRID_FIELDS,
                   lambda: orgtree.create_grid(user, community_id, text("name")))
    return _back_to_tree(grid.community_id)


def _grid_page(grid_id: int) -> str:
    user = g.console_user
    grid = orgtree.get_grid(user, grid_id)
    return render_template("console/org_grid.html", grid=grid,
                           can_edit=has_role(user, orgtree.EDITOR, grid))


@bp.get("/org/grids/<int:grid_id>")
def grid(grid_id: int):
    """A grid: edit its name"""
    return _grid_page(grid_id)


@bp.post("/org/grids/<int:grid_id>")
def edit_grid(grid_id: int):
    """Save a grid (version-checked)"""
    user, submitted = g.console_user, version()
    work = checked(Grid, grid_id, submitted,
                   lambda: orgtree.update_grid(user, grid_id, text("name")))
    stale = saved(lambda: audit.audited(user.id, "grid_update", Grid, grid_id, GRID_FIELDS, work),
                  lambda: _grid_page(grid_id), "网格已保存")
    return stale or redirect(url_for("console.grid", grid_id=grid_id))


# --- buildings ---------------------------------------------------------------------------

def _building_values() -> tuple:
    return (text("name"), integer("grid_id", "网格"), number("lat", "纬度"),
            number("lng", "经度"))


@bp.post("/org/buildings")
def create_building():
    """Create a building in a compound, on a grid (the community's staff)"""
    user, compound_id = g.console_user, integer("compound_id", "小区")
    values = _building_values()
    created(user, "building_create", BUILDING_FIELDS,
            lambda: orgtree.create_building(user, compound_id, *values))
    return redirect(url_for("console.compound", compound_id=compound_id))


def _building_page(building_id: int) -> str:
    user = g.console_user
    building = orgtree.get_building(user, building_id)
    return render_template("console/org_building.html", building=building,
                           grids=orgtree.tree(user, building.compound.community_id)["all_grids"],
                           can_edit=has_role(user, orgtree.EDITOR, building))


@bp.get("/org/buildings/<int:building_id>")
def building(building_id: int):
    """A building: edit its name, grid and position"""
    return _building_page(building_id)


@bp.post("/org/buildings/<int:building_id>")
def edit_building(building_id: int):
    """Save a building (version-checked)"""
    user, submitted, values = g.console_user, version(), _building_values()
    work = checked(Building, building_id, submitted,
                   lambda: orgtree.update_building(user, building_id, *values))
    stale = saved(lambda: audit.audited(user.id, "building_update", Building, building_id,
                                        BUILDING_FIELDS, work),
                  lambda: _building_page(building_id), "楼栋已保存")
    return stale or redirect(url_for("console.building", building_id=building_id))


# --- households --------------------------------------------------------------------------

@bp.get("/org/compounds/<int:compound_id>/households")
def households(compound_id: int):
    """The households of a compound (or one building) with their members and care tags"""
    user = g.console_user
    building_id = request.args.get("building", "")
    data = orgtree.households(user, compound_id,
                              int(building_id) if building_id.isdigit() else None)
    sees_tags = {b.id: access.manages(user, b) for b in data["buildings"]}
    phones = {m.id: people.phone_for(user, m) for ms in data["members"].values() for m in ms}
    return render_template("console/households.html", sees_tags=sees_tags, phones=phones,
                           **data)


def _household_state(household_id: int) -> dict:
    """What the household form edits, as stored now (the audit's before and after)."""
    head, phone, current = db.session.execute(
        sa.select(Household.head_name, Household.head_phone, Household.version)
        .where(Household.id == household_id)).one()
    tags = sorted(t.value for t in db.session.scalars(
        sa.select(HouseholdTag.tag).where(HouseholdTag.household_id == household_id)))
    # The audit row says the phone changed without keeping another copy of it.
    return {"head_name": head, "head_phone": mask_phone(phone), "tags": tags, "version": current}


def _household_page(household_id: int) -> str:
    user = g.console_user
    household = orgtree.get_household(user, household_id)
    members = orgtree.members_of([household.id]).get(household.id, [])
    return render_template("console/household.html", household=household, members=members,
                           phones={m.id: people.phone_for(user, m) for m in members},
                           tags=set(care.care_tags(user, household_id)), all_tags=list(CareTag))


@bp.get("/households/<int:household_id>")
def household(household_id: int):
    """A household: its head, members and care tags (those who manage it)"""
    return _household_page(household_id)


@bp.post("/households/<int:household_id>")
def edit_household(household_id: int):
    """Save a household's head and care tags (version-checked)"""
    user, submitted = g.console_user, version()
    tags = request.form.getlist("tags")
    if any(t not in {c.value for c in CareTag} for t in tags):
        raise ValidationFailed("请选择有效的关爱标签", code="validation_error")

    def work():
        orgtree.update_household(user, household_id, text("head_name"), text("head_phone"))
        care.set_care_tags(user, household_id, tags)

    def write():
        orgtree.get_household(user, household_id)  # 404 / 403 before anything is read
        audit.audited_write(user.id, "household_update", "households", household_id,
                      _household_state(household_id), checked(Household, household_id,
                                                              submitted, work),
                      lambda _: _household_state(household_id))

    stale = saved(write, lambda: _household_page(household_id), "住户信息已保存")
    return stale or redirect(url_for("console.household", household_id=household_id))
