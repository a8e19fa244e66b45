"""The org tree as the mini-program needs it: compounds with their buildings, the
departments an incident can be escalated to, the grid workers it can be reassigned to."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.errors import Forbidden, NotFound
from app.extensions import db
from app.models import Building, Compound, Department, Grid, Role, RoleGrant, ScopeKind, Street, User
from app.services.pagination import paginate
from app.services.permissions import has_role

# Who may list a compound's grid workers (to reassign an incident): its community's staff
# and its secretary (admin as everywhere).
GRID_WORKER_VIEWERS = (Role.STAFF, Role.SECRETARY)


def list_compounds(cursor: str | None, limit: int) -> dict:
    query = sa.select(Compound).options(selectinload(Compound.buildings))
    return paginate(query, Compound.id, cursor, limit)


def list_departments(cursor: str | None, limit: int) -> dict:
    """Every department with its street (plain rows: one query a page)."""
    query = (sa.select(Department.id, Department.name, Street.id.label("street_id"),
                       Street.name.label("street_name"))
             .join(Street, Street.id == Department.street_id))
    return paginate(query, Department.id, cursor, limit)


def grid_workers(user: User, compound_id: int, cursor: str | None, limit: int) -> dict:
    """The grid workers an incident in the compound may be reassigned to: those of every
    grid of its community (what `reassign` accepts), one row per worker and grid, with
    whether the grid covers a building of this compound. 404 for an unknown compound, 403
    for anyone but the community's staff and the compound's secretary."""
    compound = db.session.get(Compound, compound_id)
    if compound is None:
        raise NotFound("小区不存在", code="compound_not_found")
    if not has_role(user, GRID_WORKER_VIEWERS, compound):
        raise Forbidden("只有本社区工作人员和本小区书记可以查看网格员")
    grant_id = RoleGrant.id.label("grant_id")  # the page key: a worker may hold two grids
    in_compound = sa.exists().where(Building.grid_id == Grid.id,
                                    Building.compound_id == compound.id)
    query = (sa.select(grant_id, User.id, User.nickname, Grid.id.label("grid_id"),
                       Grid.name.label("grid_name"), in_compound.label("in_compound"))
             .join(User, User.id == RoleGrant.user_id)
             .join(Grid, Grid.id == RoleGrant.scope_id)
             .where(RoleGrant.role == Role.GRID_WORKER, RoleGrant.scope_kind == ScopeKind.GRID,
                    Grid.community_id == compound.community_id))
    return paginate(query, grant_id, cursor, limit)
