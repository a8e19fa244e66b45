"""What the SLA ladder says, with frozen time: how overdue a past deadline is, one catch-up
per incident after a long stop, a department's own ladder after an escalation, and the
incident's own page."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.jobs import get_job
from app.jobs.incidents import run_sla
from app.jobs.runner import run_job
from app.models import IncidentEvent, Notification
from app.models.base import utcnow
from app.services.incidents.sla import late_by

DETAIL = "pages/incident/detail?id={}"


def ladder(incident_id: int) -> list[Notification]:
    db.session.expire_all()
    rows = db.session.scalars(sa.select(Notification).where(
        Notification.dedupe_key.like(f"sla:{incident_id}:%")).order_by(Notification.id)).all()
    db.session.commit()
    return list(rows)


def inbox(client, headers) -> list[dict]:
    return [i for i in client.get("/api/v1/inbox?limit=100", headers=headers).get_json()["items"]
            if i["template_key"] == "task_reminder"]


def test_a_late_run_sends_one_catch_up_saying_how_overdue(client, world, people, report, ctx):
    users, start = world["users"], utcnow()
    with time_machine.travel(start, tick=False):
        incident_id = report()["id"]
    # No run for four hours: remind (0:45), secretary (1:00) and staff (2:00) all missed.
    with time_machine.travel(start + timedelta(hours=4), tick=False):
        assert run_job(get_job("incident-sla"), "test") == {"checked": 1, "queued": 1}
    sent = ladder(incident_id)
    assert [(n.user_id, n.payload["note"]) for n in sent] == [
        (users["demo-staff"], "响应已超时 3 小时，请尽快督办")]
    assert sent[0].dedupe_key.split(":")[2:4] == ["respond", "staff"]
    item, = inbox(client, people["demo-staff"])
    assert "响应已超时 3 小时" in item["text"] and "将于" not in item["text"]
    assert item["page"] == DETAIL.format(incident_id)
    # The steps it skipped are not sent later either.
    with time_machine.travel(start + timedelta(hours=5), tick=False):
        assert run_sla()["queued"] == 0
    assert len(ladder(incident_id)) == 1
    events = db.session.scalars(sa.select(IncidentEvent.action).where(
        IncidentEvent.incident_id == incident_id)).all()
    db.session.commit()
    assert events.count("sla_respond_staff") == 1 and "sla_respond_secretary" not in events


def test_minutes_overdue_and_a_reminder_before_the_deadline(client, world, people, report, ctx):
    users, start = world["users"], utcnow()
    with time_machine.travel(start, tick=False):
        incident_id = report()["id"]
    with time_machine.travel(start + timedelta(minutes=50), tick=False):
        run_sla()  # 10 minutes before respond_by: the holder is reminded
    with time_machine.travel(start + timedelta(minutes=85), tick=False):
        run_sla()  # 25 minutes past it: the secretary
    sent = ladder(incident_id)
    assert [(n.user_id, n.payload["note"]) for n in sent] == [
        (users["demo-grid-worker"], "响应即将到期，请及时处理"),
        (users["demo-secretary"], "响应已超时 25 分钟，请尽快督办")]
    item, = inbox(client, people["demo-grid-worker"])
    assert item["page"] == DETAIL.format(incident_id)
    assert sent[0].payload["incident_id"] == incident_id and "ref_id" not in sent[0].payload


def test_a_department_gets_its_own_ladder_after_an_escalation(world, report, act, ctx):
    users, city, start = world["users"], world["departments"]["城管"], utcnow()
    with time_machine.travel(start, tick=False):
        incident_id = report()["id"]
    with time_machine.travel(start + timedelta(minutes=61), tick=False):
        run_sla()  # the grid worker responded late: the secretary is told
        act("demo-grid-worker", incident_id, "accept")
        act("demo-grid-worker", incident_id, "escalate", note="需要执法", department_id=city)
    # 城管 must respond by 2:01; it does not.
    with time_machine.travel(start + timedelta(minutes=110), tick=False):
        run_sla()
    with time_machine.travel(start + timedelta(minutes=125), tick=False):
        run_sla()
    secretary = [n for n in ladder(incident_id) if n.user_id == users["demo-secretary"]]
    assert len(secretary) == 2  # the worker's late response, then the department's
    assert secretary[1].payload["deadline"] == (start + timedelta(minutes=121)).isoformat()
    assert secretary[1].payload["note"] == "响应已超时 4 分钟，请尽快督办"
    department = [n for n in ladder(incident_id) if n.user_id == users["demo-department"]]
    assert [n.payload["note"] for n in department] == ["响应即将到期，请及时处理"]


def test_how_late_is_said_rounded_down():
    assert [late_by(timedelta(seconds=s)) for s in (0, 59, 60, 59 * 60 + 59, 3600,
                                                     47 * 3600 + 3599, 48 * 3600, 80 * 3600)] \
        == ["刚刚超时", "刚刚超时", "已超时 1 分钟", "已超时 59 分钟", "已超时 1 小时",
            "已超时 47 小时", "已超时 2 天", "已超时 3 天"]
