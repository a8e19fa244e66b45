"""Who holds an incident now (app.services.incidents.access.holders / holds): its assignee,
or once escalated the department's members; admin holds everything; and the SLA ladder's
"remind" step goes to exactly those holders."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.models import (
    Building,
    Community,
    Compound,
    Department,
    Grid,
    Incident,
    IncidentCategory,
    IncidentEvent,
    IncidentStatus,
    Notification,
    Role,
    RoleGrant,
    ScopeKind,
    Street,
    User,
)
from app.models.base import utcnow
from app.services.incidents import sla
from app.services.incidents.access import holders, holds
from tests.helpers import counting_queries


def person(openid: str, *grants: tuple[Role, ScopeKind | None, int | None]) -> User:
    user = User(openid=openid, grants=[RoleGrant(role=r, scope_kind=k, scope_id=i)
                                       for r, k, i in grants])
    db.session.add(user)
    return user


@pytest.fixture
def town(ctx):
    """A street with one community, grid, compound and building, two departments, and
    the people around an incident there (no incident yet)."""
    street = Street(name="测试街道")
    community = Community(street=street, name="测试社区")
    grid = Grid(community=community, name="一网格")
    compound = Compound(community=community, name="测试小区")
    building = Building(compound=compound, grid=grid, name="1号楼")
    db.session.add(building)
    db.session.flush()
    city = Department(street_id=street.id, name="城管")
    housing = Department(street_id=street.id, name="住建")
    db.session.add_all([city, housing])
    category = IncidentCategory(code="environment", name="环境卫生", respond_hours=1,
                                resolve_hours=24)
    db.session.add(category)
    db.session.flush()
    people = {
        "reporter": person("reporter", (Role.RESIDENT, None, None)),
        "worker": person("worker", (Role.GRID_WORKER, ScopeKind.GRID, grid.id)),
        "other-worker": person("other-worker", (Role.GRID_WORKER, ScopeKind.GRID, grid.id)),
        "city-1": person("city-1", (Role.DEPARTMENT, ScopeKind.DEPARTMENT, city.id)),
        "city-2": person("city-2", (Role.DEPARTMENT, ScopeKind.DEPARTMENT, city.id)),
        "housing": person("housing", (Role.DEPARTMENT, ScopeKind.DEPARTMENT, housing.id)),
        # Holds a grant *scoped* to the department, but not the department role.
        "city-staff": person("city-staff", (Role.STAFF, ScopeKind.DEPARTMENT, city.id)),
        "secretary": person("secretary", (Role.SECRETARY, ScopeKind.COMPOUND, compound.id)),
        "staff": person("staff", (Role.STAFF, ScopeKind.COMMUNITY, community.id)),
        "admin": person("admin", (Role.ADMIN, None, None)),
    }
    db.session.flush()
    return {"building": building, "category": category, "city": city, "housing": housing,
            "people": people}


def incident(town, assignee: str | None = "worker", department=None,
             status=IncidentStatus.DISPATCHED, respond_in=timedelta(hours=1)) -> Incident:
    building, now = town["building"], utcnow()
    row = Incident(
        reporter_id=town["people"]["reporter"].id, category_id=town["category"].id,
        description="楼下垃圾桶满了", building_id=building.id, public=True,
        compound_id=building.compound_id, grid_id=building.grid_id,
        community_id=building.compound.community_id, status=status,
        assignee_id=town["people"][assignee].id if assignee else None,
        department_id=department.id if department is not None else None,
        respond_by=now + respond_in, resolve_by=now + timedelta(hours=24))
    row.sla_next_at = sla.next_step_at(row)
    db.session.add(row)
    db.session.flush()
    return row


def ids(town, *names: str) -> list[int]:
    return sorted(town["people"][n].id for n in names)


def holding(town, row: Incident) -> set[str]:
    return {name for name, user in town["people"].items() if holds(user, row)}


def test_an_assigned_incident_is_held_by_its_assignee_only(town):
    row = incident(town)
    assert holders(row) == ids(town, "worker")
    assert holding(town, row) == {"worker", "admin"}


def test_an_unassigned_incident_is_held_by_nobody_but_admin(town):
    row = incident(town, assignee=None, status=IncidentStatus.SUBMITTED)
    assert holders(row) == []
    assert holding(town, row) == {"admin"}


def test_an_escalated_incident_is_held_by_the_departments_members(town):
    row = incident(town)
    row.department_id, row.status = town["city"].id, IncidentStatus.ESCALATED
    db.session.flush()
    assert sorted(holders(row)) == ids(town, "city-1", "city-2")
    # No longer the assignee (still set), nor another department, nor a non-department
    # grant that happens to be scoped to this department.
    assert row.assignee_id == town["people"]["worker"].id
    assert holding(town, row) == {"city-1", "city-2", "admin"}


def test_holders_asks_the_given_grantee_lookup(town):
    row = incident(town, department=town["housing"], status=IncidentStatus.ESCALATED)
    asked = []

    def grantees_of(role, kind, scope_id):
        asked.append((role, kind, scope_id))
        return [12345]

    assert holders(row, grantees_of) == [12345]
    assert asked == [(Role.DEPARTMENT, ScopeKind.DEPARTMENT, town["housing"].id)]


def reminded(now) -> tuple[dict, list[Notification]]:
    result = sla.sweep(now=now)
    rows = list(db.session.scalars(sa.select(Notification).order_by(Notification.user_id)))
    return result, rows


def test_the_remind_step_goes_to_the_assignee(town):
    row = incident(town, respond_in=timedelta(minutes=10))
    now = utcnow()
    assert row.sla_next_at <= now  # the reminder (15 minutes before) is due
    result, rows = reminded(now)
    assert sorted(r.user_id for r in rows) == sorted(holders(row)) == ids(town, "worker")
    assert {r.template_key for r in rows} == {"task_reminder"}
    assert rows[0].payload["incident_id"] == row.id
    assert rows[0].payload["deadline"] == row.respond_by.isoformat()
    assert result == {"checked": 1, "queued": 1}
    # The breach step (at the deadline) is next; nobody else was told yet.
    assert row.sla_next_at == row.respond_by


def test_the_remind_step_of_an_escalated_incident_goes_to_the_department(town):
    row = incident(town, department=town["city"], status=IncidentStatus.ESCALATED,
                   respond_in=timedelta(minutes=10))
    _, rows = reminded(utcnow())
    assert sorted(r.user_id for r in rows) == sorted(holders(row)) == ids(town, "city-1", "city-2")
    assert town["people"]["worker"].id not in {r.user_id for r in rows}


def test_a_reminder_is_sent_once(town):
    incident(town, respond_in=timedelta(minutes=10))
    now = utcnow()
    reminded(now)
    result, rows = reminded(now + timedelta(minutes=1))
    assert result["queued"] == 0
    assert len(rows) == 1


def test_nothing_is_due_half_an_hour_before_the_deadline(town):
    row = incident(town, respond_in=timedelta(minutes=30))
    result, rows = reminded(utcnow())
    assert rows == []
    assert result == {"checked": 0, "queued": 0}
    assert row.sla_next_at == row.respond_by - sla.REMIND_BEFORE


# The sweep works on whole batches (access.holders_of, one query per kind of recipient, one
# notify_many, one UPDATE): the cases where that could differ from one incident at a time.

@pytest.fixture
def now():
    """The clock stands still at this moment (incidents made in the test are made then)."""
    moment = utcnow()
    with time_machine.travel(moment, tick=False):
        yield moment


def mixed_batch(town, now) -> dict[str, Incident]:
    """Six incidents due together, each at another step or held another way."""
    rows = {
        "assigned": incident(town, respond_in=timedelta(minutes=10)),
        "escalated": incident(town, department=town["city"], status=IncidentStatus.ESCALATED,
                              respond_in=timedelta(minutes=10)),
        "other department": incident(town, department=town["housing"],
                                     status=IncidentStatus.ESCALATED,
                                     respond_in=timedelta(minutes=5)),
        "nobody holds it": incident(town, assignee=None, status=IncidentStatus.SUBMITTED,
                                    respond_in=timedelta(minutes=10)),
        "30 minutes late": incident(town, respond_in=timedelta(minutes=-30)),
        "2 hours late": incident(town, department=town["city"],
                                 status=IncidentStatus.ESCALATED,
                                 respond_in=timedelta(hours=-2)),
    }
    assert all(row.sla_next_at <= now for row in rows.values())
    return rows


def sent_to(town, row: Incident) -> list[tuple[str, str, str]]:
    """(step, person, note) of every SLA message about `row`."""
    names = {user.id: name for name, user in town["people"].items()}
    found = db.session.scalars(sa.select(Notification).where(
        Notification.dedupe_key.like(f"sla:{row.id}:%")).order_by(Notification.id))
    return sorted((n.dedupe_key.split(":")[3], names[n.user_id], n.payload["note"])
                  for n in found)


def timeline(row: Incident) -> list[str]:
    return list(db.session.scalars(sa.select(IncidentEvent.note).where(
        IncidentEvent.incident_id == row.id, IncidentEvent.action.like("sla_%"))
        .order_by(IncidentEvent.id)))


def test_one_batch_mixing_held_escalated_and_late_incidents(town, now):
    rows = mixed_batch(town, now)
    result = sla.sweep(now=now)
    assert result == {"checked": 6, "queued": 6}
    assert {name: sent_to(town, row) for name, row in rows.items()} == {
        "assigned": [("remind", "worker", "响应即将到期，请及时处理")],
        "escalated": [("remind", "city-1", "响应即将到期，请及时处理"),
                      ("remind", "city-2", "响应即将到期，请及时处理")],
        "other department": [("remind", "housing", "响应即将到期，请及时处理")],
        "nobody holds it": [],
        "30 minutes late": [("secretary", "secretary", "响应已超时 30 分钟，请尽快督办")],
        "2 hours late": [("staff", "staff", "响应已超时 2 小时，请尽快督办")],
    }
    # The remind step went to exactly the holders the flow asks about, incident by incident.
    for name in ("assigned", "escalated", "other department", "nobody holds it"):
        told = sorted(town["people"][person].id for _, person, _ in sent_to(town, rows[name]))
        assert told == sorted(holders(rows[name])), name
    # Only the breach steps are on the timeline, saying whom they told.
    assert {name: timeline(row) for name, row in rows.items()} == {
        "assigned": [], "escalated": [], "other department": [], "nobody holds it": [],
        "30 minutes late": ["响应已超时 30 分钟，已提醒小区书记"],
        "2 hours late": ["响应已超时 2 小时，已提醒社区工作者"]}
    # Every row moved on to its next step (none after the staff step).
    assert {name: row.sla_next_at for name, row in rows.items()} == {
        name: sla.next_step_at(row, after=now) for name, row in rows.items()}
    assert rows["2 hours late"].sla_next_at is None
    assert rows["30 minutes late"].sla_next_at == rows["30 minutes late"].respond_by + sla.STAFF_AFTER


def test_a_batch_costs_the_same_statements_for_twice_the_incidents(app, town, now):
    counts = []
    for _ in range(2):
        mixed_batch(town, now)
        with counting_queries(app) as statements:
            sla.sweep(now=now)
        counts.append(len(statements))
        for row in db.session.scalars(sa.select(Incident)):  # the next round: all due again
            row.sla_next_at, row.respond_by = now, row.respond_by + timedelta(days=1)
        db.session.flush()
    mixed_batch(town, now)  # 6 fresh incidents due, and the 6 earlier ones again
    with counting_queries(app) as statements:
        assert sla.sweep(now=now)["checked"] == 18
    assert len(statements) == counts[0] == counts[1]


def test_a_rerun_queues_nothing_twice_and_records_nothing_twice(town, now):
    rows = mixed_batch(town, now)
    sla.sweep(now=now)
    before = {name: (sent_to(town, row), timeline(row)) for name, row in rows.items()}
    # A transition puts sla_next_at back to the first step, past ones included: the sweep
    # looks at every row again and finds each step sent.
    for row in rows.values():
        row.sla_next_at = sla.next_step_at(row)
    db.session.flush()
    assert sla.sweep(now=now + timedelta(minutes=1)) == {"checked": 6, "queued": 0}
    assert {name: (sent_to(town, row), timeline(row)) for name, row in rows.items()} == before
    # An hour on, five reach their next step (the secretary, or the staff for the late one):
    # one new message each, the earlier ones not again.
    assert sla.sweep(now=now + timedelta(minutes=61)) == {"checked": 5, "queued": 5}
    assert sent_to(town, rows["assigned"]) == [
        ("remind", "worker", "响应即将到期，请及时处理"),
        ("secretary", "secretary", "响应已超时 51 分钟，请尽快督办")]
    late = rows["30 minutes late"]
    assert sent_to(town, late)[-1] == ("staff", "staff", "响应已超时 1 小时，请尽快督办")
    assert timeline(late) == ["响应已超时 30 分钟，已提醒小区书记", "响应已超时 1 小时，已提醒社区工作者"]


@pytest.mark.parametrize("due", [4, 5])
def test_batches_end_to_end_without_losing_or_repeating_a_row(town, monkeypatch, due, now):
    monkeypatch.setattr(sla, "BATCH", 2)  # 4 due: two full batches and an empty one
    rows = [incident(town, respond_in=timedelta(minutes=10)) for _ in range(due)]
    rows.append(incident(town, respond_in=timedelta(minutes=30)))  # not due yet
    assert sla.sweep(now=now) == {"checked": due, "queued": due}
    assert [len(sent_to(town, row)) for row in rows] == [1] * due + [0]
    assert all(row.sla_next_at > now for row in rows)
