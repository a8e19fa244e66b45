"""Which community a sheet is about, and the org look-ups the kinds share.

`community_for(user, community_id, roles)`: the community named (or, by default, the one
the user works in) if the user holds one of `roles` somewhere inside it (admin anywhere);
403 otherwise. Names in a sheet (小区, 楼栋, 网格, 食堂) are looked up inside that community
only, so a row naming another community's building is simply not found: a row error.
`mask_phone` keeps the first three and last four digits."""
from __future__ import annotations

import sqlalchemy as sa

from app.errors import Forbidden
from app.extensions import db
from app.models import Building, Community, Compound, Grid, Role, ScopeKind
from app.services.permissions import has_role, works_in

STAFF_SIDE = (Role.GRID_WORKER, Role.SECRETARY, Role.STAFF, Role.CANTEEN_STAFF, Role.DEPARTMENT)


def _home_community(user) -> int | None:
    for grant in user.grants:
        if grant.scope_kind is ScopeKind.COMMUNITY:
            return grant.scope_id
        if grant.scope_kind in (ScopeKind.COMPOUND, ScopeKind.GRID):
            model = Compound if grant.scope_kind is ScopeKind.COMPOUND else Grid
            return db.session.scalar(sa.select(model.community_id).where(
                model.id == grant.scope_id))
    return None


def community_for(user, community_id: int | None, roles) -> Community:
    if community_id is None:
        community_id = _home_community(user)
        if community_id is None and has_role(user, Role.ADMIN):
            community_id = db.session.scalar(sa.select(sa.func.min(Community.id)))
    community = db.session.get(Community, community_id) if community_id is not None else None
    if community is None or not works_in(user, community.id, roles):
        raise Forbidden("您无权导入或导出该社区的数据", code="forbidden")
    return community


def compounds(community_id: int) -> dict[str, Compound]:
    return {c.name: c for c in db.session.scalars(
        sa.select(Compound).where(Compound.community_id == community_id))}


def grids(community_id: int) -> dict[str, Grid]:
    return {g.name: g for g in db.session.scalars(
        sa.select(Grid).where(Grid.community_id == community_id))}


def buildings(community_id: int) -> dict[tuple[str, str], Building]:
    rows = db.session.execute(sa.select(Building, Compound.name).join(
        Compound, Compound.id == Building.compound_id).where(
        Compound.community_id == community_id))
    return {(compound, building.name): building for building, compound in rows}


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"
