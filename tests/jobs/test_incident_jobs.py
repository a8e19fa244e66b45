"""The SLA ladder, auto-close and the digest source, with frozen time."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.jobs import get_job
from app.jobs.incidents import open_work, run_auto_close, run_sla
from app.jobs.runner import run_job
from app.models import Incident, IncidentEvent, IncidentFollower, IncidentStatus, Notification, User
from app.models.base import utcnow


@pytest.fixture
def quiet(world, ctx):
    """The world has no incidents: only the test's own incident is on the ladder."""
    return world


def reminders(incident_id: int) -> list[tuple[int, str]]:
    db.session.expire_all()
    keys = db.session.scalars(sa.select(Notification.dedupe_key).where(
        Notification.dedupe_key.like(f"sla:{incident_id}:%")).order_by(Notification.id)).all()
    db.session.commit()
    return [tuple(k.split(":")[2:4]) for k in keys]


def at(start, minutes):
    return start + timedelta(minutes=minutes)


def test_ladder_reminds_then_escalates_each_step_once(quiet, report, act):
    users = quiet["users"]
    start = utcnow()
    with time_machine.travel(start, tick=False):
        incident_id = report()["id"]
    for minutes, expected in [
        (30, []),                                              # nothing due yet
        (46, [("respond", "remind")]),                         # 15 min before respond_by
        (50, [("respond", "remind")]),                         # not twice
        (61, [("respond", "remind"), ("respond", "secretary")]),
        (121, [("respond", "remind"), ("respond", "secretary"), ("respond", "staff")]),
    ]:
        with time_machine.travel(at(start, minutes), tick=False):
            run_job(get_job("incident-sla"), "test")
        assert reminders(incident_id) == expected, minutes
    recipients = set(db.session.scalars(sa.select(Notification.user_id).where(
        Notification.dedupe_key.like(f"sla:{incident_id}:%"))))
    assert recipients == {users["demo-grid-worker"], users["demo-secretary"], users["demo-staff"]}
    events = db.session.scalars(sa.select(IncidentEvent.action).where(
        IncidentEvent.incident_id == incident_id)).all()
    assert "sla_respond_secretary" in events and "sla_respond_staff" in events
    # Accepted late: the resolve phase starts its own ladder (resolve_by = start + 24 h).
    with time_machine.travel(at(start, 130), tick=False):
        act("demo-grid-worker", incident_id, "accept")
    with time_machine.travel(at(start, 24 * 60 - 14), tick=False):
        run_sla()
    assert reminders(incident_id)[-1] == ("resolve", "remind")


def test_job_reads_only_due_rows(quiet, report):
    start = utcnow()
    with time_machine.travel(start, tick=False):
        report()
        report(openid="demo-resident-2")
    with time_machine.travel(at(start, 10), tick=False):
        assert run_sla() == {"checked": 0, "queued": 0}
    with time_machine.travel(at(start, 46), tick=False):
        assert run_sla() == {"checked": 2, "queued": 2}


def test_reopen_keeps_deadlines_and_sends_no_step_twice(quiet, report, act, photo, people):
    start = utcnow()
    with time_machine.travel(start, tick=False):
        incident_id = report()["id"]
    with time_machine.travel(at(start, 20), tick=False):
        act("demo-grid-worker", incident_id, "accept")
    with time_machine.travel(at(start, 25 * 60), tick=False):  # resolve_by passed
        run_sla()
        act("demo-grid-worker", incident_id, "resolve", note="好了",
            photo_ids=[photo(people["demo-grid-worker"])])
    sent = reminders(incident_id)
    assert sent == [("resolve", "staff")]  # an hour late: one catch-up, the most senior step
    with time_machine.travel(at(start, 26 * 60), tick=False):
        reopened = act("demo-resident", incident_id, "reopen", note="没好")
        run_sla()
    assert reopened["resolve_by"].startswith(at(start, 24 * 60).isoformat()[:16])
    assert reminders(incident_id) == sent  # deadlines stand, steps already sent


def test_resolved_and_unconfirmed_closes_itself_after_72_hours(quiet, report, act, photo, people):
    start = utcnow()
    with time_machine.travel(start, tick=False):
        incident_id = report()["id"]
        act("demo-grid-worker", incident_id, "accept")
        act("demo-grid-worker", incident_id, "resolve", note="好了",
            photo_ids=[photo(people["demo-grid-worker"])])
    with time_machine.travel(at(start, 71 * 60), tick=False):
        assert run_auto_close() == {"closed": 0, "told": 0}
    follower = db.session.get(User, quiet["users"]["demo-resident-2"])
    db.session.add(IncidentFollower(incident_id=incident_id, user_id=follower.id))
    db.session.commit()
    with time_machine.travel(at(start, 72 * 60 + 1), tick=False):
        assert run_job(get_job("incident-auto-close"), "test") == {"closed": 1, "told": 2}
        assert run_auto_close() == {"closed": 0, "told": 0}  # closed once, told once
    incident = db.session.get(Incident, incident_id)
    assert incident.status is IncidentStatus.CLOSED and incident.close_reason.value == "auto_closed"
    last = db.session.scalars(sa.select(IncidentEvent).where(
        IncidentEvent.incident_id == incident_id).order_by(IncidentEvent.id.desc())).first()
    assert last.action == "auto_close" and "自动关闭" in last.note and last.actor_id is None
    assert (last.from_status, last.to_status) == ("resolved", "closed")
    told = {row.user_id: row.payload for row in db.session.scalars(sa.select(Notification).where(
        Notification.dedupe_key.like(f"incident:{incident_id}:auto_close:%")))}
    reporter = incident.reporter_id
    assert set(told) == {reporter, follower.id}
    assert told[reporter]["whose"] == "您上报的" and told[follower.id]["whose"] == "您关注的"
    assert all(p["status"] == "已关闭" and "自动关闭" in p["note"] for p in told.values())


def test_open_incidents_feed_the_grid_workers_digest(quiet, report):
    worker = quiet["users"]["demo-grid-worker"]
    report()
    work = open_work([worker])
    assert [item.title for item in work[worker]] == ["楼下垃圾桶满了没人清运"]
    assert run_job(get_job("work-digest"), "test")["queued"] == 1


def test_the_department_holding_an_incident_gets_its_reminders(quiet, report, act):
    users, start = quiet["users"], utcnow()
    with time_machine.travel(start, tick=False):
        incident_id = report()["id"]
        act("demo-grid-worker", incident_id, "accept")
        act("demo-grid-worker", incident_id, "escalate", note="需要执法",
            department_id=quiet["departments"]["城管"])
        act("demo-department", incident_id, "accept")  # accepted: no longer "escalated"
    with time_machine.travel(at(start, 24 * 60 - 10), tick=False):  # resolve_by in 10 min
        run_job(get_job("incident-sla"), "test")
    assert ("resolve", "remind") in reminders(incident_id)
    recipients = set(db.session.scalars(sa.select(Notification.user_id).where(
        Notification.dedupe_key.like(f"sla:{incident_id}:resolve:remind:%"))))
    db.session.commit()
    assert recipients == {users["demo-department"]}
