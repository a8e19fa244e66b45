"""Incident statistics for a compound, grid or community over a date range (Asia/Shanghai
days): counts by state, on-time response and resolution rates, median times, top categories
and the overdue list. The weekly notice and the dashboards build on this.

`self_reported` counts, among the same incidents (they stay in every other figure), those a
handler reported: the reporter is the assignee, or holds a grid worker, secretary or staff
grant covering the incident's grid, compound or community (grants as they are now)."""
from __future__ import annotations

import statistics
from collections import Counter
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from app import timeutil
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    OPEN_STATUSES,
    Building,
    Community,
    Compound,
    Grid,
    Incident,
    IncidentCategory,
    Role,
    RoleGrant,
    ScopeKind,
)
from app.models.base import utcnow
from app.services.permissions import authorize

TARGETS = {"compound_id": (Compound, Incident.compound_id),
           "grid_id": (Grid, Incident.grid_id),
           "community_id": (Community, Incident.community_id)}


def date_range(start: date | None, end: date | None) -> tuple[datetime, datetime]:
    end = end or timeutil.today()
    start = start or end - timedelta(days=6)
    if start > end or (end - start).days > 366:
        raise ValidationFailed("日期范围无效（最长一年）", code="invalid_range")
    return timeutil.day_bounds(start, end)


def incident_stats(user, start: date | None = None, end: date | None = None,
                   **target_ids) -> dict:
    given = {k: v for k, v in target_ids.items() if v is not None}
    if len(given) != 1:
        raise ValidationFailed("请指定 compound_id、grid_id 或 community_id 之一",
                               code="invalid_target")
    (key, target_id), = given.items()
    model, column = TARGETS[key]
    target = db.session.get(model, target_id)
    if target is None:
        raise NotFound("范围不存在", code="not_found")
    authorize(user, (Role.SECRETARY, Role.STAFF), target)
    return summarize(column == target_id, *date_range(start, end))


def summarize(where, since: datetime, until: datetime) -> dict:
    """The figures for the incidents matching `where`, filed in [since, until)."""
    scope = sa.and_(where, Incident.created_at >= since, Incident.created_at < until)
    counts = range_counts(scope)
    times = db.session.execute(sa.select(
        Incident.created_at, Incident.responded_at, Incident.resolved_at).where(
        scope, sa.or_(Incident.responded_at.is_not(None), Incident.resolved_at.is_not(None)))
    ).all()
    self_reported = db.session.scalar(sa.select(sa.func.count()).select_from(Incident).where(
        scope, sa.or_(Incident.reporter_id == Incident.assignee_id, _reporter_handles())))
    overdue = overdue_list(where, utcnow())
    return {
        "from": since.date().isoformat(),
        "to": (until - timedelta(days=1)).date().isoformat(),
        "total": counts["total"],
        "self_reported": self_reported,
        "by_status": counts["by_status"],
        "on_time_response_rate": counts["on_time_response_rate"],
        "on_time_resolution_rate": counts["on_time_resolution_rate"],
        "median_response_minutes": _median_minutes(r.responded_at - r.created_at
                                                   for r in times if r.responded_at),
        "median_resolution_minutes": _median_minutes(r.resolved_at - r.created_at
                                                     for r in times if r.resolved_at),
        "top_categories": counts["top_categories"],
        "overdue": overdue,
    }


def range_counts(scope) -> dict:
    """One grouped scan of the incidents matching `scope` (by state and category): the count
    by state, the on-time response and resolution rates (among those responded to,
    resolved) and the top five categories (their names: one more, tiny, statement)."""
    def on_time(done, due):
        return sa.func.count(sa.case((done <= due, 1)))
    rows = db.session.execute(sa.select(
        Incident.status, Incident.category_id, sa.func.count().label("n"),
        sa.func.count(Incident.responded_at).label("responded"),
        on_time(Incident.responded_at, Incident.respond_by).label("responded_on_time"),
        sa.func.count(Incident.resolved_at).label("resolved"),
        on_time(Incident.resolved_at, Incident.resolve_by).label("resolved_on_time"))
        .where(scope).group_by(Incident.status, Incident.category_id)).all()

    def total(name):
        return sum(getattr(r, name) for r in rows)
    by_status, by_category = Counter(), Counter()
    for r in rows:
        by_status[r.status.value] += r.n
        by_category[r.category_id] += r.n
    return {"total": total("n"), "by_status": dict(by_status),
            "responded": total("responded"), "resolved": total("resolved"),
            "on_time_response_rate": _ratio(total("responded_on_time"), total("responded")),
            "on_time_resolution_rate": _ratio(total("resolved_on_time"), total("resolved")),
            "top_categories": _top(by_category)}


def _top(by_category: Counter, limit: int = 5) -> list[dict]:
    """The most reported categories (ties by code)."""
    if not by_category:
        return []
    names = db.session.execute(sa.select(IncidentCategory.id, IncidentCategory.code,
                                         IncidentCategory.name)
                               .where(IncidentCategory.id.in_(list(by_category)))).all()
    ranked = sorted(names, key=lambda c: (-by_category[c.id], c.code))[:limit]
    return [{"code": c.code, "name": c.name, "count": by_category[c.id]} for c in ranked]


def overdue_list(where, now: datetime, limit: int = 20) -> list[dict]:
    """Open incidents matching `where` past their resolution deadline, the oldest first."""
    rows = db.session.execute(
        sa.select(Incident.id, Incident.status, Incident.resolve_by).where(
            where, Incident.status.in_(OPEN_STATUSES), Incident.resolve_by < now)
        .order_by(Incident.resolve_by).limit(limit)).all()
    return [{"id": i, "status": s.value, "resolve_by": r.isoformat()} for i, s, r in rows]


def open_by_building(where, now: datetime) -> list[dict]:
    """Open incidents matching `where` per building (one grouped query), with how many of
    them are overdue and where the building stands (lat/lng, possibly unknown); the
    buildings with the most open incidents first, then one row (`building_id` None) for
    those placed by a map point only."""
    open_ = sa.and_(where, Incident.status.in_(OPEN_STATUSES))
    counted = (sa.select(Incident.building_id, sa.func.count().label("open"),
                         sa.func.count(sa.case((Incident.resolve_by < now, 1))).label("overdue"))
               .where(open_).group_by(Incident.building_id).subquery())
    rows = db.session.execute(
        sa.select(counted.c.building_id, Building.name, Compound.name.label("compound"),
                  Building.lat, Building.lng, counted.c.open, counted.c.overdue)
        .select_from(counted)
        .outerjoin(Building, Building.id == counted.c.building_id)
        .outerjoin(Compound, Compound.id == Building.compound_id)
        .order_by(counted.c.open.desc(), counted.c.building_id)).all()
    return [{"building_id": r.building_id, "building": r.name or "未关联楼栋",
             "compound": r.compound or "", "lat": r.lat, "lng": r.lng, "open": r.open,
             "overdue": r.overdue} for r in rows]


def dashboard(user, kind: str, target_id: int, start: date | None = None,
              end: date | None = None) -> dict:
    """The console dashboard's incident figures for a compound, grid or community (who may
    see them: as `incident_stats`), all set-based, four statements whatever the number of
    incidents: counts, rates and top categories in the range (and the categories' names),
    open incidents by building (with the overdue among them, not limited to the range: open
    work is open now) and the oldest overdue ones."""
    model, column = TARGETS[f"{kind}_id"]
    target = db.session.get(model, target_id)
    if target is None:
        raise NotFound("范围不存在", code="not_found")
    authorize(user, (Role.SECRETARY, Role.STAFF), target)
    since, until = date_range(start, end)
    where = column == target_id
    scope = sa.and_(where, Incident.created_at >= since, Incident.created_at < until)
    now = utcnow()
    buildings = open_by_building(where, now)
    return {**range_counts(scope), "open": sum(b["open"] for b in buildings),
            "overdue_count": sum(b["overdue"] for b in buildings),
            "overdue": overdue_list(where, now), "buildings": buildings}


def _reporter_handles() -> sa.ColumnElement:
    """The reporter holds a handling grant covering the incident (EXISTS)."""
    covers = sa.or_(*(sa.and_(RoleGrant.role == role, RoleGrant.scope_kind == kind,
                              RoleGrant.scope_id == column)
                      for role, kind, column in (
                          (Role.GRID_WORKER, ScopeKind.GRID, Incident.grid_id),
                          (Role.SECRETARY, ScopeKind.COMPOUND, Incident.compound_id),
                          (Role.STAFF, ScopeKind.COMMUNITY, Incident.community_id))))
    return sa.exists().where(RoleGrant.user_id == Incident.reporter_id, covers)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _median_minutes(durations) -> float | None:
    minutes = [d.total_seconds() / 60 for d in durations]
    return round(statistics.median(minutes), 1) if minutes else None
