"""The dashboard's figures for one scope (a community, compound or grid) and date range.

Each figure group comes from the owning feature's service, with that service's role and
scope check; a section the user may not see is `None` and the page says so, the rest of
the dashboard still renders. Reads only.

| section | service | who |
|---|---|---|
| incidents | `incidents.stats.dashboard` | secretary, staff (as `GET /incidents/stats`) |
| wish funnel | `wishes.stats.funnel` | grid worker, secretary, staff (`wishes.access.MANAGERS`) |
| canteen (whole community) | `canteen.stats.figures` | canteen staff, staff |
| 双报到 (whole community) | `party.stats.behind_the_bar` | staff (as the roster) |
| visits | `visits.stats.due_counts` | grid worker, secretary, staff (`visits.access`) |
| points | `points.stats.issued_spent` | secretary, staff |
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from app.errors import Forbidden, NotFound
from app.extensions import db
from app.models import Community, Compound, Grid, Role, ScopeKind
from app.services.canteen import stats as canteen_stats
from app.services.incidents import stats
from app.services.party import stats as party_stats
from app.services.permissions import has_role
from app.services.points import stats as points_stats
from app.services.visits import stats as visit_stats
from app.services.wishes import stats as wish_stats

KINDS = {"community": Community, "compound": Compound, "grid": Grid}
LABELS = {"community": "社区", "compound": "小区", "grid": "网格"}


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
    valid = model is not None and raw.isascii() and raw.isdigit() and len(raw) <= 9
    row = db.session.get(model, int(raw)) if valid else None
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


def _hidden(call, *args):
    """The figures, or None where the service refuses the user (403)."""
    try:
        return call(*args)
    except Forbidden:
        return None


def figures(user, scope: Scope, start: date, end: date) -> dict:
    """Every section of the dashboard for the scope and the local days start..end."""
    since, until = stats.date_range(start, end)  # the statistics API's range rule
    community = scope.row if scope.kind == "community" else scope.row.community
    return {
        "incidents": _hidden(stats.dashboard, user, scope.kind, scope.id, start, end),
        "wishes": wish_stats.funnel(user, scope.kind, scope.row, since, until),
        "canteen": canteen_stats.figures(user, community, start, end),
        "party": _hidden(party_stats.behind_the_bar, user, scope.community_id),
        "visits": visit_stats.due_counts(user, scope.kind, scope.row),
        "points": points_stats.issued_spent(user, scope.kind, scope.row, since, until),
    }
