"""Demo 六必访 and 三个公开: the default visit rules, a history of visits to the tagged
households of both compounds (some recent, some overdue, so the due lists and the digest
have something to show), 周书记's three visits this week, 虹桥小区's notice settings, and
its published notice for last week (numbers frozen from the demo's own data).

Rows are written directly; nobody is told anything. Added once: nothing is written when
there are visits already.
"""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app import timeutil
from app.extensions import db
from app.models import (
    Building,
    Household,
    HouseholdTag,
    Notice,
    NoticeSettings,
    NoticeStatus,
    Role,
    User,
    Visit,
    VisitKind,
    VisitSubject,
)
from app.models.base import utcnow
from app.services.notices import sources, weeks
from app.services.visits import rules

SITUATIONS = [("身体尚好，独自在家", "希望有人帮忙买菜", None),
              ("刚出院，行动不便", "需要送餐上门", "楼道扶手松动"),
              ("家中困难，孩子上学", "咨询低保政策", None),
              ("在外务工，家中老人由邻居照看", None, "老人不会用智能手机")]


def seed_visits(org: dict, users: dict[str, User]) -> int:
    rules.ensure_defaults()
    if db.session.scalar(sa.select(sa.func.count()).select_from(Visit)):
        return 0
    now = utcnow()
    tagged = db.session.execute(
        sa.select(Household.id, Building.compound_id, Building.grid_id)
        .join(Building, Building.id == Household.building_id)
        .where(Household.id.in_(sa.select(HouseholdTag.household_id)))
        .order_by(Household.id)).all()
    hongqiao, shengshi = org["compounds"]
    workers = {hongqiao.id: users["demo-grid-worker"], shengshi.id: users["demo-grid-worker-2"]}
    rows = []
    for n, (hid, compound_id, grid_id) in enumerate(tagged):
        situation, needs, problems = SITUATIONS[n % len(SITUATIONS)]
        rows.append(Visit(subject=VisitSubject.HOUSEHOLD, household_id=hid,
                          compound_id=compound_id, grid_id=grid_id,
                          visitor_id=workers[compound_id].id, visitor_role=Role.GRID_WORKER,
                          kind=(VisitKind.HOME, VisitKind.PHONE)[n % 2], situation=situation,
                          needs=needs, problems=problems, photo_ids=[],
                          visited_at=now - timedelta(days=3 + (n * 5) % 25)))
    start = timeutil.week_bounds(*timeutil.iso_week(now))[0]
    for n, (hid, compound_id, grid_id) in enumerate(
            [t for t in tagged if t[1] == hongqiao.id][:3]):
        rows.append(Visit(subject=VisitSubject.HOUSEHOLD, household_id=hid,
                          compound_id=compound_id, grid_id=grid_id,
                          visitor_id=users["demo-secretary"].id, visitor_role=Role.SECRETARY,
                          kind=VisitKind.HOME, situation="书记走访，了解近况", photo_ids=[],
                          visited_at=min(now, start + timedelta(hours=10 + n))))
    db.session.add_all(rows)
    db.session.add(NoticeSettings(compound_id=hongqiao.id, station_address="虹桥小区3号楼底商 党群服务站",
                                  station_hours="周一至周六 8:30-17:30",
                                  public_contact="0358-6661234",
                                  updated_by_id=users["demo-secretary"].id))
    db.session.flush()
    year, week = weeks.last_week(now)
    snapshot = sources.gather([hongqiao.id], weeks.bounds(year, week, now))[hongqiao.id]
    db.session.add(Notice(compound_id=hongqiao.id, iso_year=year, iso_week=week, version=1,
                          status=NoticeStatus.PUBLISHED, snapshot=snapshot,
                          sections={"next_week": "周六上午 9:00 义诊进小区（3号楼前广场）"},
                          author_id=users["demo-secretary"].id,
                          published_by_id=users["demo-secretary"].id, published_at=now))
    db.session.flush()
    return len(rows)
