"""The visit jobs with frozen time: overdue visits climb to the compound's secretary after 3
days, once per missed due time (and again after the next miss); the grid workers' morning
digest lists the visits due today."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.jobs import JOBS, get_job
from app.jobs.digest import SOURCES
from app.jobs.runner import run_job
from app.models import CareTag, VisitEscalation
from app.models.base import utcnow
from tests.fixtures.wishes import notified
from tests.helpers import in_app

DAY = timedelta(days=1)


def run(app, job_id: str, at) -> dict:
    with time_machine.travel(at, tick=False):
        return in_app(app, lambda: run_job(get_job(job_id), "test"))


def test_the_jobs_are_declared():
    assert "visit-escalation" in {job.id for job in JOBS}
    assert "app.jobs.visits:open_work" in SOURCES


def test_overdue_climbs_to_the_secretary_after_three_days_once(app, world, address, tag,
                                                               make_visit):
    now = utcnow()
    home = address("虹桥小区", "1号楼", "1", "101")
    calm = address("虹桥小区", "2号楼", "1", "201")
    other = address("盛世华城", "1号楼", "1", "101")
    tag(home, CareTag.LIVING_ALONE, since=now - 60 * DAY)
    tag(calm, CareTag.HARDSHIP, since=now - 60 * DAY)
    tag(other, CareTag.LIVING_ALONE, since=now - 60 * DAY)
    make_visit(home, at=now - 7 * DAY)        # due now
    make_visit(calm, at=now - 12 * DAY)       # due in 2 days
    make_visit(other, visitor="demo-grid-worker-2", at=now - 7 * DAY)  # due now
    users = world["users"]
    assert run(app, "visit-escalation", now + 2 * DAY + 23 * timedelta(hours=1))[
        "escalated"] == 0
    result = run(app, "visit-escalation", now + 3 * DAY)
    assert result["escalated"] == 2 and result["queued"] == 2  # home and other
    [message] = notified(app, users["demo-secretary"], "visit_overdue")
    assert message["place"] == "1号楼1单元101"
    assert [m["place"] for m in notified(app, users["demo-secretary-2"], "visit_overdue")] == \
        ["1号楼1单元101"]
    assert notified(app, users["demo-grid-worker"], "visit_overdue") == []
    again = run(app, "visit-escalation", now + 4 * DAY)
    assert again["queued"] == 0 and len(notified(app, users["demo-secretary"],
                                                 "visit_overdue")) == 1
    # calm falls due at +2 days and climbs at +5.
    assert run(app, "visit-escalation", now + 5 * DAY)["escalated"] == 1
    # A visit, then another miss: it climbs again, once.
    make_visit(home, at=now + 5 * DAY)
    assert run(app, "visit-escalation", now + 14 * DAY)["escalated"] == 0
    assert run(app, "visit-escalation", now + 15 * DAY)["escalated"] == 1
    assert len(notified(app, users["demo-secretary"], "visit_overdue")) == 3
    assert in_app(app, lambda: db.session.scalar(
        sa.select(sa.func.count()).select_from(VisitEscalation))) == 4


def test_floating_members_contact_climbs_too(app, world, floating_member, make_visit):
    now = utcnow()
    make_visit(member_id=floating_member, visitor="demo-secretary", at=now - 34 * DAY)
    assert run(app, "visit-escalation", now)["escalated"] == 1
    [message] = notified(app, world["users"]["demo-secretary"], "visit_overdue")
    assert message["place"] == "流动党员陈流动" and "一月一联" in message["note"]


def test_the_digest_lists_visits_due_today(app, world, address, tag, make_visit):
    now = utcnow()
    home = address("虹桥小区", "3号楼", "2", "402")
    later = address("虹桥小区", "3号楼", "1", "101")
    tag(home, CareTag.LIVING_ALONE, since=now - 60 * DAY)
    tag(later, CareTag.LIVING_ALONE, since=now - 60 * DAY)
    make_visit(home, at=now - 7 * DAY)
    make_visit(later, at=now - 2 * DAY)
    result = run(app, "work-digest", now)
    assert result["queued"] >= 1
    [digest] = notified(app, world["users"]["demo-grid-worker"], "work_digest")
    assert "走访：3号楼2单元402" in digest["summary"] and digest["open"] == 1
    assert notified(app, world["users"]["demo-grid-worker-2"], "work_digest") == []
