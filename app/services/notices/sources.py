"""Where each section of the weekly notice gets its numbers: `SOURCES`, one function per
section, listed here and nowhere else.

A source is `fn(compound_ids, week) -> {compound_id: dict}`: grouped queries over every
compound asked for at once (the Monday job drafts 1,724 compounds with a handful of
statements, not a handful per compound). A week is `Week(year, week, since, until, now)`,
local Monday 00:00 to the next. Nothing a source returns names a resident, a room or a
phone: counts, categories, buildings, statuses, the secretary's own name and the contact
they chose to publish. `present()` turns a snapshot into what people read: counts under 3
show as 少于3.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Callable

import sqlalchemy as sa
from werkzeug.utils import import_string

from app import timeutil
from app.extensions import db
from app.models import (
    OPEN_STATUSES,
    Building,
    Household,
    Incident,
    IncidentCategory,
    IncidentEvent,
    NoticeSettings,
    Role,
    RoleGrant,
    ScopeKind,
    ServiceLog,
    User,
    Visit,
    Wish,
    WishKeys,
)
from app.models.visits import WEEKLY_SECRETARY_TARGET

FEW = 3  # counts under this show as 少于3
OPEN_LISTED = 10  # open incidents listed with their progress, oldest first


@dataclass(frozen=True)
class Week:
    year: int
    week: int
    since: datetime
    until: datetime
    now: datetime


def _counts(statement) -> dict[int, int]:
    return {cid: n for cid, n in db.session.execute(statement)}


def _in(column, ids):
    return column.in_(ids)


def secretary(ids, week: Week) -> dict[int, dict]:
    """The secretary's name, the contact they published (only if they did), the station."""
    out = {cid: {"names": [], "contact": None, "station_address": None, "station_hours": None}
           for cid in ids}
    for cid, nickname in db.session.execute(
            sa.select(RoleGrant.scope_id, User.nickname).join(User, User.id == RoleGrant.user_id)
            .where(RoleGrant.role == Role.SECRETARY, RoleGrant.scope_kind == ScopeKind.COMPOUND,
                   _in(RoleGrant.scope_id, ids)).order_by(RoleGrant.id)):
        out.setdefault(cid, {"names": []})["names"].append(nickname)
    for row in db.session.scalars(sa.select(NoticeSettings).where(
            _in(NoticeSettings.compound_id, ids))):
        out[row.compound_id].update(contact=row.public_contact,
                                    station_address=row.station_address,
                                    station_hours=row.station_hours)
    return out


def visits(ids, week: Week) -> dict[int, dict]:
    """Visits logged in the compound this week, and the secretary's household visits
    against the weekly 3."""
    in_week = sa.and_(_in(Visit.compound_id, ids), Visit.visited_at >= week.since,
                      Visit.visited_at < week.until)
    total = _counts(sa.select(Visit.compound_id, sa.func.count()).where(in_week)
                    .group_by(Visit.compound_id))
    mine = _counts(sa.select(Visit.compound_id, sa.func.count()).where(
        in_week, Visit.visitor_role == Role.SECRETARY, Visit.household_id.is_not(None))
        .group_by(Visit.compound_id))
    return {cid: {"total": total.get(cid, 0), "by_secretary": mine.get(cid, 0),
                  "target": WEEKLY_SECRETARY_TARGET,
                  "met": mine.get(cid, 0) >= WEEKLY_SECRETARY_TARGET} for cid in ids}


def incidents(ids, week: Week) -> dict[int, dict]:
    """Received this week; of those, responded and resolved within the SLA, overdue (the
    resolve deadline passed without a resolution); escalated this week; the open ones."""
    received = sa.and_(_in(Incident.compound_id, ids), Incident.created_at >= week.since,
                       Incident.created_at < week.until)
    on = sa.func.sum
    figures = {row.compound_id: row for row in db.session.execute(
        sa.select(Incident.compound_id, sa.func.count().label("received"),
                  on(sa.case((Incident.responded_at <= Incident.respond_by, 1), else_=0))
                  .label("responded"),
                  on(sa.case((Incident.resolved_at <= Incident.resolve_by, 1), else_=0))
                  .label("resolved"),
                  on(sa.case((sa.and_(Incident.resolve_by < week.now, sa.or_(
                      Incident.resolved_at.is_(None),
                      Incident.resolved_at > Incident.resolve_by)), 1), else_=0))
                  .label("overdue"))
        .where(received).group_by(Incident.compound_id))}
    escalated = _counts(
        sa.select(Incident.compound_id, sa.func.count(sa.distinct(Incident.id)))
        .join(IncidentEvent, IncidentEvent.incident_id == Incident.id)
        .where(_in(Incident.compound_id, ids), IncidentEvent.action == "escalate",
               IncidentEvent.created_at >= week.since, IncidentEvent.created_at < week.until)
        .group_by(Incident.compound_id))
    open_now = sa.and_(_in(Incident.compound_id, ids), Incident.status.in_(OPEN_STATUSES),
                       Incident.created_at < week.until)
    open_count = _counts(sa.select(Incident.compound_id, sa.func.count()).where(open_now)
                         .group_by(Incident.compound_id))
    ranked = (sa.select(Incident.compound_id, Incident.status, Incident.created_at,
                        IncidentCategory.name.label("category"),
                        Building.name.label("building"),
                        sa.func.row_number().over(partition_by=Incident.compound_id,
                                                  order_by=(Incident.created_at, Incident.id))
                        .label("n"))
              .join(IncidentCategory, IncidentCategory.id == Incident.category_id)
              .join(Building, Building.id == Incident.building_id)
              .where(open_now, Incident.public.is_(True)).subquery())
    listed: dict[int, list] = {}
    for row in db.session.execute(sa.select(ranked).where(ranked.c.n <= OPEN_LISTED)
                                  .order_by(ranked.c.compound_id, ranked.c.n)):
        listed.setdefault(row.compound_id, []).append({
            "category": row.category, "building": row.building, "status": row.status.label,
            "since": timeutil.local(row.created_at).date().isoformat()})
    out = {}
    for cid in ids:
        row = figures.get(cid)
        out[cid] = {"received": row.received if row else 0,
                    "responded_on_time": int(row.responded or 0) if row else 0,
                    "resolved_on_time": int(row.resolved or 0) if row else 0,
                    "overdue": int(row.overdue or 0) if row else 0,
                    "escalated": escalated.get(cid, 0), "open": open_count.get(cid, 0),
                    "open_items": listed.get(cid, [])}
    return out


def wishes(ids, week: Week) -> dict[int, dict]:
    def count(compound, column):  # posted: read from wish_keys (app.models.wishes.WishKeys)
        return _counts(sa.select(compound, sa.func.count()).where(
            _in(compound, ids), column >= week.since, column < week.until)
            .group_by(compound))
    posted, claimed, completed = (count(WishKeys.compound_id, WishKeys.created_at),
                                  count(Wish.compound_id, Wish.claimed_at),
                                  count(Wish.compound_id, Wish.completed_at))
    return {cid: {"posted": posted.get(cid, 0), "claimed": claimed.get(cid, 0),
                  "completed": completed.get(cid, 0)} for cid in ids}


def party(ids, week: Week) -> dict[int, dict]:
    """双报到: verified service hours this week of party members living in the compound."""
    rows = {cid: (members, hours) for cid, members, hours in db.session.execute(
        sa.select(Building.compound_id, sa.func.count(sa.distinct(ServiceLog.member_id)),
                  sa.func.sum(ServiceLog.hours))
        .join(User, User.id == ServiceLog.member_id)
        .join(Household, Household.id == User.household_id)
        .join(Building, Building.id == Household.building_id)
        .where(_in(Building.compound_id, ids), ServiceLog.verified_at.is_not(None),
               ServiceLog.check_in_at >= week.since, ServiceLog.check_in_at < week.until)
        .group_by(Building.compound_id))}
    return {cid: {"members": rows.get(cid, (0, 0))[0],
                  "hours": str(Decimal(rows.get(cid, (0, 0))[1] or 0).quantize(Decimal("0.1")))}
            for cid in ids}


# section key -> (title, source "module:function" or None for a section of free text only)
SOURCES: dict[str, tuple[str, str | None]] = {
    "secretary": ("书记公开", "app.services.notices.sources:secretary"),
    "visits": ("走访情况", "app.services.notices.sources:visits"),
    "incidents": ("随手拍办理", "app.services.notices.sources:incidents"),
    "wishes": ("微心愿", "app.services.notices.sources:wishes"),
    "canteen": ("社区食堂", "app.services.notices.canteen:figures"),
    "party": ("双报到服务", "app.services.notices.sources:party"),
    "next_week": ("下周活动", None),
}


def _source(path: str) -> Callable | None:
    try:
        return import_string(path)
    except ImportError:  # a feature that has not landed: its section is left out
        return None


def gather(ids: list[int], week: Week) -> dict[int, dict]:
    """Every compound's snapshot: {section: figures}, plus the week."""
    snapshots = {cid: {"week": {"year": week.year, "week": week.week,
                                "from": timeutil.local(week.since).date().isoformat(),
                                "to": (timeutil.local(week.until).date()
                                       - timedelta(days=1)).isoformat()},
                       "generated_at": week.now.isoformat()} for cid in ids}
    for key, (_title, path) in SOURCES.items():
        fn = _source(path) if path else None
        if fn is None:
            continue
        for cid, figures in fn(ids, week).items():
            if cid in snapshots and figures is not None:
                snapshots[cid][key] = figures
    return snapshots


def few(n) -> str:
    return "少于3" if isinstance(n, int) and n < FEW else str(n)


# Figures shown as they are: the secretary's own visits against the target, hours, a rate.
SHOWN_AS_IS = {"by_secretary", "target", "met", "hours", "rating", "names", "contact",
               "station_address", "station_hours", "open_items"}


def present(snapshot: dict) -> dict:
    """The snapshot as residents read it: every count under 3 as 少于3."""
    shown = {}
    for key, value in snapshot.items():
        if isinstance(value, dict) and key in SOURCES:
            shown[key] = {k: v if k in SHOWN_AS_IS or isinstance(v, bool) else few(v)
                          for k, v in value.items()}
        else:
            shown[key] = value
    return shown
