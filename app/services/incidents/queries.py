"""Reading incidents: the five list scopes, "nearby" duplicates, one incident's timeline and
what the viewer may do with it (`allowed_actions`, from the transition table).

Who asks is a `Viewer`: the request's Principal (a read) or the User (after a write)."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.errors import Forbidden
from app.extensions import db
from app.models import (
    OPEN_STATUSES,
    Incident,
    IncidentEvent,
    IncidentFollower,
    IncidentStatus,
    Role,
    ScopeKind,
    User,
)
from app.models.base import utcnow
from app.services import names
from app.services.incidents import access, flow
from app.services.incidents.categories import get_category
from app.services.incidents.filing import distance_m
from app.services.pagination import fetch_page, page_query
from app.services.permissions import Viewer, has_role, home_compound

NEARBY_METRES = 200
NEARBY_DAYS = 30
# Lists are Core selects of table columns (no ORM objects, no ORM compile step): the hottest
# read of the product.
incidents, users = Incident.__table__, User.__table__
events, followers = IncidentEvent.__table__, IncidentFollower.__table__


LIST_COLUMNS = (
    *(incidents.c[name] for name in (
        "id", "description", "status", "anonymous", "reporter_id", "assignee_id",
        "category_id", "building_id", "reporter_building_id", "grid_id", "compound_id",
        "community_id", "department_id", "follower_count", "respond_by", "resolve_by",
        "responded_at", "resolved_at", "close_reason", "reject_reason", "rating",
        "duplicate_of_id", "created_at")),
    # The viewer's own name comes from who asks (`named`), not from a lookup.
    names.looked_up_unless(incidents.c.reporter_id == sa.bindparam("viewer"), users.c.nickname,
                           users.c.id, incidents.c.reporter_id, "reporter_name"),
    names.looked_up_unless(incidents.c.assignee_id == sa.bindparam("viewer"), users.c.nickname,
                           users.c.id, incidents.c.assignee_id, "assignee_name"),
    # The report's photos (the first event's), for the list's thumbnail: every viewer may
    # see those, the public view included.
    sa.select(events.c.photo_ids).where(events.c.incident_id == incidents.c.id)
    .order_by(events.c.id).limit(1).scalar_subquery().label("report_photo_ids"),
    names.VERSION)
# The names a row shows come from the process's cache (`named`), not from a lookup per row.
NAMES = (("category_id", names.CATEGORY_CODE, "category_code"),
         ("category_id", names.CATEGORY_NAME, "category_name"),
         ("compound_id", names.COMPOUND, "compound_name"),
         ("building_id", names.BUILDING, "building_name"),
         ("reporter_building_id", names.BUILDING, "reporter_building_name"),
         ("department_id", names.DEPARTMENT, "department_name"))


@functools.cache
def _rows() -> sa.Select:
    """The list select, built once (statements are immutable; building one costs more than
    running it)."""
    return sa.select(*LIST_COLUMNS)


def named(user: Viewer, rows) -> list[dict]:
    """Rows of `_rows()` (run with `viewer`: the user's id) as dicts with their names: the
    cached ones (NAMES), and the user's own as reporter or handler."""
    rows = names.fill(rows, NAMES)
    for row in rows:
        if row["reporter_id"] == user.id:
            row["reporter_name"] = user.nickname
        if row["assignee_id"] == user.id:
            row["assignee_name"] = user.nickname
    return rows


def list_incidents(user: Viewer, scope: str, cursor: str | None, limit: int,
                   status: str | None = None, category: str | None = None,
                   overdue: bool = False, compound_id: int | None = None) -> dict:
    """One page of incident rows (mappings of LIST_COLUMNS) for a scope."""
    params = {"viewer": user.id}
    if scope == "mine":
        scopes = ("reporter",)
    elif scope == "assigned":
        params["departments"] = [g.scope_id for g in user.grants if g.role is Role.DEPARTMENT]
        scopes = ("assignee", "departments") if params["departments"] else ("assignee",)
    elif scope == "compound":
        scopes = _managed_by(user, params)
    elif scope == "following":
        scopes = ("following",)
    else:  # public
        params["home"] = home_compound(user)
        if params["home"] is None:
            return {"items": [], "next_cursor": None}  # no compound: no public view
        scopes = ("public",)
    if compound_id is not None:
        params["compound_id"] = compound_id
    if status:
        params["status"] = IncidentStatus(status)
    if category:
        params["category_id"] = get_category(category).id
    if overdue:
        params["now"] = utcnow()
    filters = tuple(name for name in FILTERS if name in params)
    statement = _list_statement(scopes, filters, bool(cursor), limit)
    page = fetch_page(statement, incidents.c.id, cursor, limit, params)
    return {**page, "items": with_visibility(user, named(user, page["items"]))}


FILTERS = ("compound_id", "status", "category_id", "now")
MANAGED = {ScopeKind.GRID: "grids", ScopeKind.COMPOUND: "compounds",
           ScopeKind.COMMUNITY: "communities"}


@functools.lru_cache(maxsize=512)
def _list_statement(scopes: tuple[str, ...], filters: tuple[str, ...], paged: bool,
                    limit: int) -> sa.Select:
    """A list query over bound parameters, built once for each combination of conditions:
    building and keying a new statement per request would cost a third of running it.
    Rows match any of `scopes` and all of `filters`."""
    param = sa.bindparam
    viewer, now = param("viewer"), param("now")
    scope_conditions = {
        "all": sa.true(),
        "reporter": incidents.c.reporter_id == viewer,
        "assignee": incidents.c.assignee_id == viewer,
        "departments": incidents.c.department_id.in_(param("departments", expanding=True)),
        "grids": incidents.c.grid_id.in_(param("grids", expanding=True)),
        "compounds": incidents.c.compound_id.in_(param("compounds", expanding=True)),
        "communities": incidents.c.community_id.in_(param("communities", expanding=True)),
        "following": incidents.c.id.in_(sa.select(followers.c.incident_id).where(
            followers.c.user_id == viewer)),
        "public": sa.and_(incidents.c.compound_id == param("home"),
                          incidents.c.public.is_(True),
                          incidents.c.status.not_in(access.HIDDEN_FROM_PUBLIC))}
    filter_conditions = {
        "compound_id": incidents.c.compound_id == param("compound_id"),
        "status": incidents.c.status == param("status"),
        "category_id": incidents.c.category_id == param("category_id"),
        "now": sa.and_(incidents.c.status.in_(OPEN_STATUSES), sa.or_(  # overdue
            sa.and_(incidents.c.responded_at.is_(None), incidents.c.respond_by < now),
            incidents.c.resolve_by < now))}
    query = _rows().where(sa.or_(*(scope_conditions[name] for name in scopes)),
                          *(filter_conditions[name] for name in filters))
    return page_query(query, incidents.c.id, paged, limit, descending=True)


def _managed_by(user: Viewer, params: dict) -> tuple[str, ...]:
    """The `compound` scope: what the user manages (adds the ids to `params`)."""
    if has_role(user, Role.ADMIN):
        return ("all",)
    for grant in user.grants:
        if grant.role in (Role.GRID_WORKER, Role.SECRETARY, Role.STAFF) \
                and grant.scope_kind in MANAGED:
            params.setdefault(MANAGED[grant.scope_kind], []).append(grant.scope_id)
    scopes = tuple(name for name in MANAGED.values() if name in params)
    if not scopes:
        raise Forbidden("只有网格员、书记和社区工作者可以查看小区的随手拍")
    return scopes


def nearby(user: Viewer, lat: float, lng: float, category: str | None) -> list:
    """Open incidents within 200 m in the last 30 days: say "me too" instead of a duplicate."""
    box = NEARBY_METRES / 111_000
    query = _rows().add_columns(incidents.c.lat, incidents.c.lng, incidents.c.public).where(
        incidents.c.status.in_(OPEN_STATUSES + (IncidentStatus.RESOLVED,)),
        incidents.c.created_at >= utcnow() - timedelta(days=NEARBY_DAYS),
        incidents.c.lat.between(lat - box, lat + box),
        incidents.c.lng.between(lng - 2 * box, lng + 2 * box))
    if category:
        query = query.where(incidents.c.category_id == get_category(category).id)
    compound = home_compound(user)
    found = [(distance_m(lat, lng, r["lat"], r["lng"]), r)
             for r in db.session.execute(query.limit(200), {"viewer": user.id}).mappings()]
    visible = [(d, r) for d, r in found if d <= NEARBY_METRES and (
        access.is_party_row(user, r) or (r["compound_id"] == compound and r["public"]
                                         and r["status"] not in access.HIDDEN_FROM_PUBLIC))]
    return with_visibility(user, named(
        user, [r for _, r in sorted(visible, key=lambda pair: pair[0])][:20]))


@dataclass
class IncidentDetail:
    row: dict  # LIST_COLUMNS and NAMES
    full: bool  # whether the user sees it in full (else the public view)
    events: list[IncidentEvent]
    actions: list[str]  # what the user may do now (allowed_actions)


def detail(user: Viewer, incident_id: int) -> IncidentDetail:
    """The incident as a list row, its timeline, how much of it the user sees and what
    they may do with it."""
    incident = access.get_visible(user, incident_id)
    row = named(user, db.session.execute(_rows().where(incidents.c.id == incident.id),
                                         {"viewer": user.id}).mappings())[0]
    events = list(db.session.scalars(sa.select(IncidentEvent).options(
        selectinload(IncidentEvent.actor)).where(IncidentEvent.incident_id == incident.id)
        .order_by(IncidentEvent.id)))
    return IncidentDetail(row, access.can_view(user, incident), events,
                          allowed_actions(user, incident))


def allowed_actions(user: Viewer, incident: Incident) -> list[str]:
    """The actions of flow.TRANSITIONS the user may take now, in the table's order: each
    rule whose sources include the status and whose `who` says yes, less those its applier
    would refuse anyway (a second "me too" or rating, a reopen after its window)."""
    refused = set()
    if incident.rating is not None:
        refused.add("rate")
    if incident.resolved_at is not None and utcnow() - incident.resolved_at > flow.REOPEN_WINDOW:
        refused.add("reopen")
    if access.is_follower(user, incident):
        refused.add("follow")
    return [action for action, rule in flow.TRANSITIONS.items()
            if action not in refused and incident.status in rule.sources
            and rule.who(user, incident)]


def with_visibility(user: Viewer, rows) -> list[tuple[sa.Row, bool]]:
    """Each row with whether the user sees it in full (a follower sees the public view, as
    in the detail), which needs no query per row."""
    return [(row, access.is_party_row(user, row)) for row in rows]


def open_by_assignee(user_ids: list[int]) -> list:
    """(assignee_id, description, resolve_by) of the open incidents these users hold,
    soonest deadline first (the grid workers' morning digest)."""
    return db.session.execute(
        sa.select(Incident.assignee_id, Incident.description, Incident.resolve_by)
        .where(Incident.assignee_id.in_(user_ids), Incident.status.in_(OPEN_STATUSES))
        .order_by(Incident.resolve_by)).all()
