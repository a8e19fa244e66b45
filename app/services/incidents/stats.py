"""Incident statistics for a compound, grid or community over a date range (Asia/Shanghai
days): counts by state, on-time response and resolution rates, median times, top categories
and the overdue list. The weekly notice and the dashboards build on this.

`self_reported` counts, among the same incidents (they stay in every other figure), those a
handler reported: the reporter is the assignee, or holds a grid worker, secretary or staff
grant covering the incident's grid, compound or community (grants as they are now)."""
from __future__ import annotations

import statistics
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from app import timeutil
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    OPEN_STATUSES,
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
    by_status = dict(db.session.execute(sa.select(Incident.status, sa.func.count())
                                        .where(scope).group_by(Incident.status)).all())
    times = db.session.execute(sa.select(
        Incident.created_at, Incident.responded_at, Incident.respond_by,
        Incident.resolved_at, Incident.resolve_by).where(scope)).all()
    responded = [(r.responded_at - r.created_at, r.responded_at <= r.respond_by)
                 for r in times if r.responded_at]
    resolved = [(r.resolved_at - r.created_at, r.resolved_at <= r.resolve_by)
                for r in times if r.resolved_at]
    top = db.session.execute(
        sa.select(IncidentCategory.code, IncidentCategory.name, sa.func.count())
        .join(Incident, Incident.category_id == IncidentCategory.id).where(scope)
        .group_by(IncidentCategory.code, IncidentCategory.name)
        .order_by(sa.func.count().desc(), IncidentCategory.code).limit(5)).all()
    self_reported = db.session.scalar(sa.select(sa.func.count()).select_from(Incident).where(
        scope, sa.or_(Incident.reporter_id == Incident.assignee_id, _reporter_handles())))
    now = utcnow()
    overdue = db.session.execute(
        sa.select(Incident.id, Incident.status, Incident.resolve_by).where(
            where, Incident.status.in_(OPEN_STATUSES), Incident.resolve_by < now)
        .order_by(Incident.resolve_by).limit(20)).all()
    return {
        "from": since.date().isoformat(),
        "to": (until - timedelta(days=1)).date().isoformat(),
        "total": len(times),
        "self_reported": self_reported,
        "by_status": {status.value: count for status, count in by_status.items()},
        "on_time_response_rate": _rate(ok for _, ok in responded),
        "on_time_resolution_rate": _rate(ok for _, ok in resolved),
        "median_response_minutes": _median_minutes(d for d, _ in responded),
        "median_resolution_minutes": _median_minutes(d for d, _ in resolved),
        "top_categories": [{"code": c, "name": n, "count": k} for c, n, k in top],
        "overdue": [{"id": i, "status": s.value, "resolve_by": r.isoformat()}
                    for i, s, r in overdue],
    }


def _reporter_handles() -> sa.ColumnElement:
    """The reporter holds a handling grant covering the incident (EXISTS)."""
    covers = sa.or_(*(sa.and_(RoleGrant.role == role, RoleGrant.scope_kind == kind,
                              RoleGrant.scope_id == column)
                      for role, kind, column in (
                          (Role.GRID_WORKER, ScopeKind.GRID, Incident.grid_id),
                          (Role.SECRETARY, ScopeKind.COMPOUND, Incident.compound_id),
                          (Role.STAFF, ScopeKind.COMMUNITY, Incident.community_id))))
    return sa.exists().where(RoleGrant.user_id == Incident.reporter_id, covers)


def _rate(flags) -> float | None:
    flags = list(flags)
    return round(sum(flags) / len(flags), 4) if flags else None


def _median_minutes(durations) -> float | None:
    minutes = [d.total_seconds() / 60 for d in durations]
    return round(statistics.median(minutes), 1) if minutes else None
