"""Handing an incident on (escalate, reassign, reopen) over HTTP: only its grid worker while
holding it escalates it (departments do not pass it sideways; admin may), the resolve
deadline never moves later on a second escalation, a department that loses it is told,
every occurrence is its own notification, and each message says the right thing."""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.models import Notification, Role, RoleGrant, ScopeKind, User
from app.models.base import utcnow

DETAIL = "pages/incident/detail?id={}"


def messages(user_id: int, template_key: str | None = None) -> list[Notification]:
    db.session.expire_all()
    query = sa.select(Notification).where(Notification.user_id == user_id)
    if template_key is not None:
        query = query.where(Notification.template_key == template_key)
    rows = db.session.scalars(query.order_by(Notification.id)).all()
    db.session.commit()
    return list(rows)


def inbox(client, headers) -> list[dict]:
    return client.get("/api/v1/inbox?limit=100", headers=headers).get_json()["items"]


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


def department_member(world, auth, openid: str, department: str) -> tuple[int, dict]:
    """One more member of a department (the world has one, of 城管): id and headers (in
    the test's app context)."""
    user = User(openid=openid, nickname=openid, grants=[RoleGrant(
        role=Role.DEPARTMENT, scope_kind=ScopeKind.DEPARTMENT,
        scope_id=world["departments"][department])])
    db.session.add(user)
    db.session.commit()
    user_id = user.id
    db.session.commit()
    return user_id, auth(openid)


def test_a_grid_worker_who_escalated_it_cannot_escalate_it_again(world, report, act):
    city, housing = world["departments"]["城管"], world["departments"]["住建"]
    incident_id = report()["id"]
    act("demo-grid-worker", incident_id, "accept")
    act("demo-grid-worker", incident_id, "escalate", note="需要执法", department_id=city)
    again = act("demo-grid-worker", incident_id, "escalate", expect=403, note="再报",
                department_id=housing)
    assert again["code"] == "forbidden"
    act("demo-department", incident_id, "accept")  # accepted: a working state again
    still = act("demo-grid-worker", incident_id, "escalate", expect=403, note="再报",
                department_id=housing)
    assert still["code"] == "forbidden"
    # The department holding it does not pass it sideways, and admin not to the same one.
    sideways = act("demo-department", incident_id, "escalate", expect=403, note="属于住建",
                   department_id=housing)
    assert sideways["code"] == "forbidden"
    same = act("demo-admin", incident_id, "escalate", expect=422, note="还是城管",
               department_id=city)
    assert same["code"] == "same_department"


def test_admin_moves_it_between_departments_the_deadline_stays_and_the_first_is_told(
        client, world, people, auth, report, act, ctx):
    users, city, housing = world["users"], world["departments"]["城管"], world["departments"]["住建"]
    officer, officer_headers = department_member(world, auth, "housing-officer", "住建")
    colleague, colleague_headers = department_member(world, auth, "city-officer", "城管")
    start = utcnow()
    with time_machine.travel(start, tick=False):
        incident_id = report()["id"]
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        act("demo-grid-worker", incident_id, "accept")
        first = act("demo-grid-worker", incident_id, "escalate", note="需要执法",
                    department_id=city)
    # The first department gets its own clock, counted from now.
    assert moment(first["respond_by"]) == start + timedelta(hours=3)
    assert moment(first["resolve_by"]) == start + timedelta(hours=26)
    with time_machine.travel(start + timedelta(hours=5), tick=False):
        passed = act("demo-admin", incident_id, "escalate", note="属于住建职责",
                     department_id=housing)
    assert passed["status"]["code"] == "escalated" and passed["responded_at"] is None
    # A second escalation keeps the earlier resolve deadline; the new department still
    # answers within its own respond hours.
    assert moment(passed["resolve_by"]) == start + timedelta(hours=26)
    assert moment(passed["respond_by"]) == start + timedelta(hours=6)
    # Both members of 城管 lost it and are told where it went; 住建 got the task.
    for member, headers in ((users["demo-department"], people["demo-department"]),
                            (colleague, colleague_headers)):
        lost = messages(member, "incident_transferred")
        assert len(lost) == 1 and lost[0].payload["to"] == "住建"
        told = inbox(client, headers)
        assert told[0]["title"] == "随手拍已转交" and "已转交住建处理" in told[0]["text"]
        assert told[0]["text"].endswith("属于住建职责") and told[0]["page"] == "pages/work/index"
    task = messages(officer, "incident_task")
    assert len(task) == 1 and task[0].payload["note"] == "属于住建职责"
    # It is 住建's now: 城管 can no longer act on (or see) it, 住建 can.
    assert act("demo-department", incident_id, "accept", expect=404)["code"] == \
        "incident_not_found"
    accepted = client.post(f"/api/v1/incidents/{incident_id}/transitions",
                           headers=officer_headers, json={"action": "accept"})
    assert accepted.status_code == 200 and accepted.get_json()["status"]["code"] == "accepted"


def test_reassigning_back_tells_the_department_and_the_same_worker_again(
        client, world, people, report, act, ctx):
    users, city = world["users"], world["departments"]["城管"]
    start = utcnow()
    with time_machine.travel(start, tick=False):
        incident_id = report()["id"]
        act("demo-grid-worker", incident_id, "accept")
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        escalated = act("demo-grid-worker", incident_id, "escalate", note="需要执法",
                        department_id=city)
    with time_machine.travel(start + timedelta(hours=3), tick=False):
        back = act("demo-secretary", incident_id, "reassign", assignee_id=users["demo-grid-worker"])
    assert back["status"]["code"] == "dispatched" and back["assignee"]["id"] == users["demo-grid-worker"]
    assert (back["respond_by"], back["resolve_by"]) == (escalated["respond_by"], escalated["resolve_by"])
    # Dispatched twice to the same worker: two tasks, not one swallowed by its dedupe key.
    tasks = messages(users["demo-grid-worker"], "incident_task")
    assert len(tasks) == 2 and len({t.dedupe_key for t in tasks}) == 2
    lost = messages(users["demo-department"], "incident_transferred")
    assert len(lost) == 1 and lost[0].payload["to"] == "网格员赵网格"
    # Escalated to the same department a second time: told again, and the clock does not
    # start over (the earlier resolve deadline stands).
    with time_machine.travel(start + timedelta(hours=4), tick=False):
        act("demo-grid-worker", incident_id, "accept")
        again = act("demo-grid-worker", incident_id, "escalate", note="还是需要执法",
                    department_id=city)
    assert moment(again["resolve_by"]) == moment(escalated["resolve_by"])
    assert moment(again["respond_by"]) == start + timedelta(hours=5)
    department_tasks = messages(users["demo-department"], "incident_task")
    assert [t.payload["note"] for t in department_tasks] == ["需要执法", "还是需要执法"]
    pages = {item["page"] for item in inbox(client, people["demo-department"])
             if item["template_key"] == "incident_task"}
    assert pages == {DETAIL.format(incident_id)}


def test_reopening_what_a_department_resolved_goes_back_to_the_department(
        client, world, people, report, act, photo, ctx):
    users, city = world["users"], world["departments"]["城管"]
    incident_id = report()["id"]
    act("demo-grid-worker", incident_id, "accept")
    act("demo-grid-worker", incident_id, "escalate", note="需要执法", department_id=city)
    act("demo-department", incident_id, "accept")
    act("demo-department", incident_id, "resolve", note="已执法",
        photo_ids=[photo(people["demo-department"])])
    worker_before = len(messages(users["demo-grid-worker"]))
    reopened = act("demo-resident", incident_id, "reopen", note="又有人摆摊了")
    assert reopened["status"]["code"] == "escalated"
    assert reopened["assignee"]["id"] == users["demo-grid-worker"]  # unchanged, not the holder
    assert len(messages(users["demo-grid-worker"])) == worker_before  # not the worker's
    told = messages(users["demo-department"], "incident_reopened")
    assert len(told) == 1 and told[0].payload["note"] == "又有人摆摊了"
    entry = next(i for i in inbox(client, people["demo-department"])
                 if i["template_key"] == "incident_reopened")
    assert entry["title"] == "随手拍被重新打开" and "新的随手拍任务" not in entry["title"]
    assert "又有人摆摊了" in entry["text"] and entry["page"] == DETAIL.format(incident_id)
    # The department holds it again: it accepts, the grid worker may not.
    assert act("demo-grid-worker", incident_id, "accept", expect=403)["code"] == "forbidden"
    assert act("demo-department", incident_id, "accept")["status"]["code"] == "accepted"


def test_reopening_what_the_grid_worker_resolved_goes_back_to_the_worker(
        client, world, people, report, act, photo, ctx):
    users = world["users"]
    incident_id = report()["id"]
    act("demo-grid-worker", incident_id, "accept")
    act("demo-grid-worker", incident_id, "resolve", note="好了",
        photo_ids=[photo(people["demo-grid-worker"])])
    act("demo-resident", incident_id, "reopen", note="还是满的")
    told = messages(users["demo-grid-worker"], "incident_reopened")
    assert len(told) == 1 and told[0].payload["note"] == "还是满的"
    titles = [i["title"] for i in inbox(client, people["demo-grid-worker"])]
    assert titles.count("新的随手拍任务") == 1  # the dispatch only
    assert titles[0] == "随手拍被重新打开"


def test_the_reporter_reads_about_their_own_report_followers_about_one_they_follow(
        client, world, people, report, act, photo):
    incident_id = report()["id"]
    act("demo-resident-2", incident_id, "follow")
    act("demo-grid-worker", incident_id, "accept")
    act("demo-grid-worker", incident_id, "resolve", note="已清运",
        photo_ids=[photo(people["demo-grid-worker"])])
    own = [i for i in inbox(client, people["demo-resident"]) if i["template_key"] == "incident_update"]
    assert own and all(i["text"].startswith("您上报的“") for i in own)
    assert any("已办结" in i["text"] and "已清运" in i["text"] for i in own)
    followed = [i for i in inbox(client, people["demo-resident-2"])
                if i["template_key"] == "incident_update"]
    assert followed and all(i["text"].startswith("您关注的“") for i in followed)
    assert {i["page"] for i in own + followed} == {DETAIL.format(incident_id)}
