"""Filing a 随手拍 report: validation, content security, location, routing, SLA deadlines.

群众点单 → 组织派单: a report is routed to the grid worker of its building's grid (the one
with the fewest open incidents when there are several); with no grid worker it waits in the
community staff queue. Text WeChat finds risky is refused; text it wants reviewed is held
for staff moderation (`pending_review`).
"""
from __future__ import annotations

import math

import sqlalchemy as sa

from app.database import outside_transaction
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    OPEN_STATUSES,
    Building,
    Incident,
    IncidentStatus,
    Role,
    RoleGrant,
    ScopeKind,
    User,
)
from app.models.base import utcnow
from app.services.incidents.categories import deadlines, get_category
from app.services.incidents.sla import next_step_at
from app.services.incidents.timeline import record, tell
from app.services.uploads import attach, own_photos
from app.wechat.security import check_text

NEAREST_BUILDING_METRES = 300


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


def pick_grid_worker(grid_id: int) -> int | None:
    """The grid's worker with the fewest open incidents (ties: the longest-serving grant)."""
    open_count = (sa.select(sa.func.count()).select_from(Incident)
                  .where(Incident.assignee_id == RoleGrant.user_id,
                         Incident.status.in_(OPEN_STATUSES)).scalar_subquery())
    return db.session.scalar(
        sa.select(RoleGrant.user_id).where(RoleGrant.role == Role.GRID_WORKER,
                                           RoleGrant.scope_kind == ScopeKind.GRID,
                                           RoleGrant.scope_id == grid_id)
        .order_by(open_count, RoleGrant.id).limit(1))


def create_incident(reporter: User, category: str, description: str, photo_ids: list[int],
                    lat: float | None = None, lng: float | None = None,
                    building_id: int | None = None, anonymous: bool = False) -> Incident:
    description = description.strip()
    if not description:
        raise ValidationFailed("请描述一下问题", code="validation_error",
                               errors={"json": {"description": ["此项不能为空"]}})
    kind = get_category(category)
    if anonymous and not kind.anonymous_allowed:
        raise ValidationFailed("该分类不支持匿名上报", code="anonymous_not_allowed")
    openid = reporter.openid
    own_photos(reporter, photo_ids)  # refuse bad photos before asking WeChat anything
    outside_transaction()  # nothing calls WeChat inside a transaction
    verdict = check_text(openid, description)
    if verdict == "risky":
        raise ValidationFailed("内容含有违规信息，请修改后再提交", code="content_risky")
    photos = own_photos(reporter, photo_ids)
    building = locate(reporter, building_id, lat, lng)
    now = utcnow()
    respond_by, resolve_by = deadlines(kind, now)
    incident = Incident(reporter_id=reporter.id, category=kind, description=description,
                        anonymous=anonymous, lat=lat, lng=lng, building=building,
                        compound_id=building.compound_id, grid_id=building.grid_id,
                        community_id=building.compound.community_id, created_at=now,
                        respond_by=respond_by, resolve_by=resolve_by,
                        status=IncidentStatus.SUBMITTED)
    db.session.add(incident)
    db.session.flush()
    record(incident, reporter, "report", note=description, photo_ids=attach(photos, "incident", incident.id))
    if verdict == "review":
        incident.status = IncidentStatus.PENDING_REVIEW
        record(incident, None, "hold_for_review", IncidentStatus.SUBMITTED,
               note="内容待人工审核")
    else:
        dispatch(incident, pick_grid_worker(building.grid_id), actor=None)
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
    record(incident, actor, "dispatch", before, note=None)
    tell(assignee_id, incident, "incident_task", f"dispatch-{incident.reopen_count}-{assignee_id}",
         note="请尽快接单处理")
