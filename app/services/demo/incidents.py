"""Demo data for 随手拍: the categories, and a few dozen incidents in every state.

Rows are written directly (no WeChat content check: `flask seed-demo` runs before the
sandbox starts) with timelines that read like the real flow.
"""
from __future__ import annotations

import random
from datetime import timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import (
    CloseReason,
    Department,
    Incident,
    IncidentCategory,
    IncidentEvent,
    IncidentStatus,
    RejectReason,
    User,
)
from app.models.base import utcnow
from app.services.common import get_or_create
from app.services.incidents.categories import deadlines
from app.services.incidents.sla import next_step_at

# code, name, respond h, resolve h, default department, public, anonymous allowed
CATEGORIES = [
    ("environment", "环境卫生", 1, 24, "城管", True, True),
    ("facility", "设施损坏", 1, 24, "住建", True, True),
    ("noise", "噪音扰民", 1, 24, None, True, True),
    ("fumes", "油烟污染", 1, 24, "城管", True, True),
    ("parking", "停车管理", 1, 24, "城管", True, True),
    ("safety", "安全隐患", 1, 24, "住建", True, False),
    ("dispute", "邻里纠纷", 1, 24, None, False, False),
    ("property", "物业服务", 1, 24, None, True, True),
    ("other", "其他", 1, 24, None, True, True),
]

SAMPLES = {
    "environment": ["楼下垃圾桶满了没人清运", "单元门口有建筑垃圾堆放"],
    "facility": ["3单元楼道灯坏了", "小区健身器材螺丝松动"],
    "noise": ["晚上十点后还有装修噪音"],
    "fumes": ["一楼饭店油烟直排到窗户"],
    "parking": ["消防通道被私家车占用", "电动车在楼道充电"],
    "safety": ["井盖松动有人踩空"],
    "dispute": ["楼上漏水到我家，沟通无果"],
    "property": ["电梯经常停运，物业不处理"],
    "other": ["小区门禁卡无法使用"],
}

FLOW = {  # how far along each demo incident got
    IncidentStatus.SUBMITTED: [], IncidentStatus.PENDING_REVIEW: ["hold_for_review"],
    IncidentStatus.DISPATCHED: ["dispatch"], IncidentStatus.ACCEPTED: ["dispatch", "accept"],
    IncidentStatus.IN_PROGRESS: ["dispatch", "accept", "start"],
    IncidentStatus.ESCALATED: ["dispatch", "accept", "escalate"],
    IncidentStatus.RESOLVED: ["dispatch", "accept", "start", "resolve"],
    IncidentStatus.CLOSED: ["dispatch", "accept", "start", "resolve", "confirm"],
    IncidentStatus.REJECTED: ["reject"],
}


def seed_categories() -> dict[str, IncidentCategory]:
    departments = {d.name: d.id for d in db.session.scalars(sa.select(Department))}

    def init_for(spec):
        code, name, respond, resolve, dept, public, anonymous = spec

        def init(c):
            c.name, c.respond_hours, c.resolve_hours = name, respond, resolve
            c.default_department_id = departments.get(dept)
            c.public, c.anonymous_allowed, c.sort_order = public, anonymous, CATEGORIES.index(spec)
        return init

    return {spec[0]: get_or_create(IncidentCategory, code=spec[0], init=init_for(spec))
            for spec in CATEGORIES}


def seed_incidents(org: dict, users: dict[str, User]) -> int:
    categories = seed_categories()
    if db.session.scalar(sa.select(sa.func.count()).select_from(Incident)):
        return 0
    rng = random.Random(11)
    now = utcnow()
    reporters = [users[o] for o in ("demo-resident", "demo-resident-2", "demo-party-member",
                                    "demo-resident-3")]
    created = 0
    for n in range(36):
        status = list(FLOW)[n % len(FLOW)]
        reporter = reporters[n % len(reporters)]
        building = reporter.household.building
        code = list(SAMPLES)[n % len(SAMPLES)]
        category = categories[code]
        worker = users["demo-grid-worker" if building.grid_id == org["grids"][0].id
                       else "demo-grid-worker-2"]
        started = now - timedelta(hours=rng.randint(2, 24 * 20))
        respond_by, resolve_by = deadlines(category, started)
        incident = Incident(
            reporter_id=reporter.id, category=category, building=building,
            public=category.public, reporter_building_id=building.id,
            description=rng.choice(SAMPLES[code]), lat=building.lat, lng=building.lng,
            compound_id=building.compound_id, grid_id=building.grid_id,
            community_id=org["community"].id, status=status, created_at=started,
            respond_by=respond_by, resolve_by=resolve_by)
        db.session.add(incident)
        db.session.flush()
        _replay(incident, FLOW[status], reporter, worker, org, started, rng)
        incident.sla_next_at = next_step_at(incident)
        created += 1
    return created


def _replay(incident, actions, reporter, worker, org, at, rng) -> None:
    def event(actor, action, note=None):
        nonlocal at
        at += timedelta(minutes=rng.randint(10, 600))
        db.session.add(IncidentEvent(incident_id=incident.id, actor_id=actor.id if actor else None,
                                     action=action, note=note, to_status=None, created_at=at))
        return at

    event(reporter, "report", incident.description)
    for action in actions:
        if action == "dispatch":
            incident.assignee_id = worker.id
            event(None, "dispatch")
        elif action == "accept":
            incident.responded_at = event(worker, "accept")
        elif action == "escalate":
            incident.department_id, incident.responded_at = org["department"].id, None
            event(worker, "escalate", "需要城管执法")
        elif action == "resolve":
            incident.resolved_at = event(worker, "resolve", "已处理完毕")
        elif action == "confirm":
            incident.closed_at = event(reporter, "confirm")
            incident.close_reason, incident.rating = CloseReason.CONFIRMED, rng.randint(4, 5)
        elif action == "reject":
            incident.reject_reason = RejectReason.INVALID
            incident.closed_at = event(None, "reject", "信息不全，无法定位")
        else:
            event(None, action)
