"""Filing a 随手拍 report: validation, content security, location, routing, SLA deadlines.

群众点单 → 组织派单: a report is routed to the grid worker of its building's grid (the one
with the fewest open incidents when there are several); with no grid worker it waits in the
community staff queue. Nobody handles their own report: a grid worker's report goes to
another worker of the grid, or the staff queue. Text WeChat finds risky is refused; text it
wants reviewed, or could not check at all (content security unavailable), is held for staff
moderation (`pending_review`).

Who may report where: a verified resident anywhere in the community of their household;
grid workers, secretaries and staff within their grid, compound or community; admin
anywhere. Anyone else is told to bind and verify an address (403 `not_a_resident`); a
building in another community is 403 `outside_community`, one in the community but outside
a handler's patch 403 `outside_scope`. One user files at most `INCIDENT_DAILY_LIMIT` reports
per Asia/Shanghai day (429 `daily_limit_reached`). The category's visibility and the
reporter's own building are copied onto the report (`Incident.public`,
`Incident.reporter_building_id`), so later changes never rewrite what an old report shows.
"""
from __future__ import annotations

import math

import sqlalchemy as sa
from flask import current_app

from app import timeutil
from app.errors import Forbidden, NotFound, TooManyRequests, ValidationFailed
from app.extensions import db
from app.models import (
    OPEN_STATUSES,
    Building,
    Compound,
    Grid,
    Incident,
    IncidentStatus,
    Role,
    RoleGrant,
    ScopeKind,
    User,
)
from app.models.base import utcnow
from app.services import moderation
from app.services.incidents.categories import deadlines, get_category
from app.services.incidents.sla import next_step_at
from app.services.incidents.timeline import record, tell
from app.services.permissions import has_role
from app.services.uploads import attach, own_photos
from app.wechat.security import UNAVAILABLE

NEAREST_BUILDING_METRES = 300
# Verdicts of app.wechat.security.check_text that hold a report for staff, and why.
HELD = {"review": "内容待人工审核", UNAVAILABLE: "内容安全检查暂不可用，待人工审核"}
REPORTING_ROLES = (Role.GRID_WORKER, Role.SECRETARY, Role.STAFF)  # within their scope


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    r = 6_371_000
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def locate(user: User, building_id: int | None, lat: float | None,
           lng: float | None) -> Building:
    """The building a report is about: given, nearest to the point, or the reporter's own."""
    if building_id is not None:
        building = db.session.get(Building, building_id)
        if building is None:
            raise NotFound("楼栋不存在", code="building_not_found")
        return building
    if lat is not None and lng is not None:
        nearest = _nearest_building(lat, lng)
        if nearest is not None:
            return nearest
    if user.household is not None:
        return user.household.building
    raise ValidationFailed("请选择问题所在的楼栋或位置", code="location_required",
                           errors={"building_id": ["无法确定位置"]})


def _nearest_building(lat: float, lng: float) -> Building | None:
    box = NEAREST_BUILDING_METRES / 111_000  # degrees of latitude; generous for longitude
    candidates = db.session.scalars(sa.select(Building).where(
        Building.lat.between(lat - box, lat + box),
        Building.lng.between(lng - 2 * box, lng + 2 * box)))
    scored = [(distance_m(lat, lng, b.lat, b.lng), b) for b in candidates]
    scored = [(d, b) for d, b in scored if d <= NEAREST_BUILDING_METRES]
    return min(scored, key=lambda pair: pair[0])[1] if scored else None


def pick_grid_worker(grid_id: int, reporter_id: int | None = None) -> int | None:
    """The grid's worker with the fewest open incidents (ties: the longest-serving grant),
    never the reporter: nobody handles their own report."""
    open_count = (sa.select(sa.func.count()).select_from(Incident)
                  .where(Incident.assignee_id == RoleGrant.user_id,
                         Incident.status.in_(OPEN_STATUSES)).scalar_subquery())
    query = sa.select(RoleGrant.user_id).where(RoleGrant.role == Role.GRID_WORKER,
                                               RoleGrant.scope_kind == ScopeKind.GRID,
                                               RoleGrant.scope_id == grid_id)
    if reporter_id is not None:
        query = query.where(RoleGrant.user_id != reporter_id)
    return db.session.scalar(query.order_by(open_count, RoleGrant.id).limit(1))


def is_resident(user: User) -> bool:
    """A verified resident (`household_id` is set only for a verified household)."""
    return user.household is not None and has_role(user, Role.RESIDENT)


def may_report(user: User) -> None:
    """A verified resident, or a grid worker, secretary, staff member or admin; else 403."""
    if not (is_resident(user) or has_role(user, REPORTING_ROLES)):
        raise Forbidden("请先在“我的”里绑定住址，经网格员认证后即可随手拍", code="not_a_resident")


def check_place(user: User, building: Building) -> None:
    """May the user report about this building? (403 `outside_community`/`outside_scope`)"""
    community_id = building.compound.community_id
    if is_resident(user) and user.household.building.compound.community_id == community_id:
        return
    if has_role(user, REPORTING_ROLES, building):
        return
    if community_id in _communities(user):
        raise Forbidden("只能上报你负责的网格或小区内的问题", code="outside_scope")
    raise Forbidden("该位置不在你所在的社区，只能上报本社区内的问题", code="outside_community")


def _communities(user: User) -> set[int]:
    """The communities the user lives or works in."""
    found = {user.household.building.compound.community_id} if is_resident(user) else set()
    for grant in user.grants:
        if grant.role not in REPORTING_ROLES:
            continue
        if grant.scope_kind is ScopeKind.COMMUNITY:
            found.add(grant.scope_id)
        elif grant.scope_kind in (ScopeKind.GRID, ScopeKind.COMPOUND):
            model = Grid if grant.scope_kind is ScopeKind.GRID else Compound
            found.add(db.session.scalar(sa.select(model.community_id).where(
                model.id == grant.scope_id)))
    return found


def check_daily_limit(user: User) -> None:
    """At most INCIDENT_DAILY_LIMIT reports per user and Asia/Shanghai day (429)."""
    limit = current_app.config["INCIDENT_DAILY_LIMIT"]
    start, end = timeutil.day_bounds(timeutil.today())
    filed = db.session.scalar(sa.select(sa.func.count()).select_from(Incident).where(
        Incident.reporter_id == user.id, Incident.created_at >= start,
        Incident.created_at < end))
    if filed >= limit:
        raise TooManyRequests(f"今天已上报 {limit} 条随手拍，达到每日上限，请明天再报",
                              code="daily_limit_reached", errors={"limit": limit})


def create_incident(reporter: User, category: str, description: str, photo_ids: list[int],
                    lat: float | None = None, lng: float | None = None,
                    building_id: int | None = None, anonymous: bool = False) -> Incident:
    description = description.strip()
    if not description:
        raise ValidationFailed("请描述一下问题", code="validation_error",
                               errors={"json": {"description": ["此项不能为空"]}})
    may_report(reporter)
    kind = get_category(category)
    if anonymous and not kind.anonymous_allowed:
        raise ValidationFailed("该分类不支持匿名上报", code="anonymous_not_allowed")
    # Refuse a bad place, too many reports or bad photos before asking WeChat anything.
    check_place(reporter, locate(reporter, building_id, lat, lng))
    check_daily_limit(reporter)
    own_photos(reporter, photo_ids)
    verdict = moderation.screen(reporter, description)
    # Read again after the call: the reporter's row lock makes the daily count exact.
    db.session.execute(sa.select(User.id).where(User.id == reporter.id).with_for_update())
    check_daily_limit(reporter)
    photos = own_photos(reporter, photo_ids)
    building = locate(reporter, building_id, lat, lng)
    check_place(reporter, building)
    now = utcnow()
    respond_by, resolve_by = deadlines(kind, now)
    incident = Incident(reporter_id=reporter.id, category=kind, description=description,
                        anonymous=anonymous, lat=lat, lng=lng, building=building,
                        public=kind.public, reporter_building_id=(
                            reporter.household.building_id if reporter.household else None),
                        compound_id=building.compound_id, grid_id=building.grid_id,
                        community_id=building.compound.community_id, created_at=now,
                        respond_by=respond_by, resolve_by=resolve_by,
                        status=IncidentStatus.SUBMITTED)
    db.session.add(incident)
    db.session.flush()
    record(incident, reporter, "report", note=description, photo_ids=attach(photos, "incident", incident.id))
    if verdict in HELD:  # WeChat wants it reviewed, or could not be asked
        incident.status = IncidentStatus.PENDING_REVIEW
        record(incident, None, "hold_for_review", IncidentStatus.SUBMITTED, note=HELD[verdict])
    else:
        dispatch(incident, pick_grid_worker(building.grid_id, reporter.id), actor=None)
    incident.sla_next_at = next_step_at(incident)
    db.session.commit()
    return incident


def dispatch(incident: Incident, assignee_id: int | None, actor: User | None) -> None:
    """组织派单: hand the incident to a grid worker, or leave it in the staff queue."""
    if assignee_id is None:
        return  # stays `submitted`: the community staff queue
    before = incident.status
    incident.assignee_id = assignee_id
    incident.status = IncidentStatus.DISPATCHED
    event = record(incident, actor, "dispatch", before, note=None)
    tell(assignee_id, incident, "incident_task", event, note="请尽快接单处理")
