"""Who holds an incident now (app.services.incidents.access.holders / holds): its assignee,
or once escalated the department's members; admin holds everything; and the SLA ladder's
"remind" step goes to exactly those holders."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    Building,
    Community,
    Compound,
    Department,
    Grid,
    Incident,
    IncidentCategory,
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
