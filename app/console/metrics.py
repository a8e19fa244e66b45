"""The dashboard's figures for one scope (a community, compound or grid) and date range.

Each figure comes from the feature's own service where one exists, with that service's role
and scope check: incidents from `incidents.stats.incident_stats` (secretary, staff), the
双报到 members behind the bar from `party.progress.roster` (the community's staff). The wish
funnel and the points issued and spent have no API yet; they are counted here with the
checks the matching API lists use (the wish managers of `wishes.access.MANAGERS`; the
secretary or staff who see incident figures). A section the user may not see is returned as
`None` and the page says so; the rest of the dashboard still renders. Reads only.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from app.errors import Forbidden, NotFound
from app.extensions import db
from app.models import (
    Building,
    Community,
    Compound,
    Grid,
    Household,
    LedgerEntry,
    Role,
    ScopeKind,
    User,
    Wish,
)
from app.services.incidents import stats
from app.services.party import progress
from app.services.permissions import has_role
from app.services.wishes import access as wish_access

KINDS = {"community": Community, "compound": Compound, "grid": Grid}
LABELS = {"community": "社区", "compound": "小区", "grid": "网格"}
FIGURE_ROLES = (Role.SECRETARY, Role.STAFF)  # as incident_stats
ROSTER_PAGE = 100


@dataclass
class Scope:
    kind: str  # community, compound, grid
    row: object

    @property
    def id(self) -> int:
        return self.row.id

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.row.id}"

    @property
    def community_id(self) -> int:
        return self.row.id if self.kind == "community" else self.row.community_id


def scope_of(key: str) -> Scope:
    """`community:1`, `compound:2`, `grid:3` → the row (404 when unknown)."""
    kind, _, raw = (key or "").partition(":")
    model = KINDS.get(kind)
    row = db.session.get(model, int(raw)) if model is not None and raw.isdigit() else None
    if row is None:
        raise NotFound("范围不存在", code="not_found")
    return Scope(kind, row)


def choices(user) -> list[Scope]:
    """The scopes the user's grants cover, each community followed by its compounds and
    grids (admin: every community)."""
    if has_role(user, Role.ADMIN):
        communities = list(db.session.scalars(sa.select(Community.id).order_by(Community.id)))
    else:
        communities = sorted({g.scope_id for g in user.grants
                              if g.scope_kind is ScopeKind.COMMUNITY})
    out = []
    for community_id in communities:
        out.append(Scope("community", db.session.get(Community, community_id)))
        for kind in ("compound", "grid"):
            model = KINDS[kind]
            out.extend(Scope(kind, row) for row in db.session.scalars(
                sa.select(model).where(model.community_id == community_id).order_by(model.id)))
    for kind, scope_kind in (("compound", ScopeKind.COMPOUND), ("grid", ScopeKind.GRID)):
        for grant in user.grants:
            if grant.scope_kind is scope_kind and all(
                    (s.kind, s.id) != (kind, grant.scope_id) for s in out):
                row = db.session.get(KINDS[kind], grant.scope_id)
                if row is not None:
                    out.append(Scope(kind, row))
    return out


def incidents(user, scope: Scope, start: date, end: date) -> dict | None:
    try:
        return stats.incident_stats(user, start, end, **{f"{scope.kind}_id": scope.id})
    except Forbidden:
        return None


def behind_the_bar(user, scope: Scope) -> dict | None:
    """The community's confirmed 双报到 members and those behind this year's bar (times or
    hours), through the roster the API serves (page by page)."""
    try:
        cursor, members = None, []
        while True:
            page = progress.roster(user, scope.community_id, None, cursor, ROSTER_PAGE)
            members.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
    except Forbidden:
        return None
    behind = [m for m in members if not (m["times_met"] and m["hours_met"])]
    target_times, target_hours = progress.targets()
    return {"members": len(members), "behind": len(behind), "target_times": target_times,
            "target_hours": target_hours,
            "rows": [{"name": m["member"]["name"], "times": m["times"], "hours": m["hours"]}
                     for m in behind[:20]]}


def _column(model, scope: Scope):
    return getattr(model, f"{scope.kind}_id")


def wish_funnel(user, scope: Scope, since: datetime, until: datetime) -> dict | None:
    """Wishes posted in the range and how far they got: published, claimed, fulfilled,
    completed (each stage counts those that reached it)."""
    if not has_role(user, wish_access.MANAGERS, scope.row):
        return None
    stages = {"posted": Wish.created_at, "published": Wish.published_at,
              "claimed": Wish.claimed_at, "fulfilled": Wish.fulfilled_at,
              "completed": Wish.completed_at}
    row = db.session.execute(sa.select(*(sa.func.count(column).label(name)
                                         for name, column in stages.items())).where(
        _column(Wish, scope) == scope.id, Wish.created_at >= since,
        Wish.created_at < until)).one()
    return dict(row._mapping)


def points(user, scope: Scope, since: datetime, until: datetime) -> dict | None:
    """Points issued (positive entries) and spent (negative) in the range by the residents
    whose verified household lies in the scope."""
    if not has_role(user, FIGURE_ROLES, scope.row):
        return None
    place = {"community": Compound.community_id, "compound": Building.compound_id,
             "grid": Building.grid_id}[scope.kind]
    issued = sa.func.coalesce(sa.func.sum(sa.case((LedgerEntry.amount > 0, LedgerEntry.amount),
                                                  else_=0)), 0)
    spent = sa.func.coalesce(sa.func.sum(sa.case((LedgerEntry.amount < 0, -LedgerEntry.amount),
                                                 else_=0)), 0)
    row = db.session.execute(
        sa.select(issued.label("issued"), spent.label("spent"))
        .select_from(LedgerEntry).join(User, User.id == LedgerEntry.account_id)
        .join(Household, Household.id == User.household_id)
        .join(Building, Building.id == Household.building_id)
        .join(Compound, Compound.id == Building.compound_id)
        .where(place == scope.id, LedgerEntry.created_at >= since,
               LedgerEntry.created_at < until)).one()
    return {"issued": int(row.issued), "spent": int(row.spent)}
