"""Who may see an incident, and how much.

Full view: the reporter, whoever handles it (grid worker, the department it was escalated
to), the grid worker of its grid, the compound's secretary, the community's staff, admin.
Public view (reporter masked as their building, e.g. "1号楼住户"; no names, notes or
handling photos): its followers, and residents of the same compound once the report is
dispatched (not while queued or under review, nor once rejected), if it was filed in a
category that may appear publicly
(`Incident.public`, copied when it was filed: a category made public later never publishes
old reports). Anyone else is told the incident does not exist (404), not that it is
private.

Who holds an incident now (`holders`, `holds`): the department it was escalated to until it
is reassigned, otherwise its assignee. The flow asks it before `accept`/`start`/`resolve`,
the SLA ladder to know whom to remind: one rule for both. `holders_of` is the same rule for
a batch of incidents (the SLA sweep): one query for all their departments' members.
"""
from __future__ import annotations

import sqlalchemy as sa

from app.errors import NotFound
from app.extensions import db
from app.models import (
    Incident,
    IncidentEvent,
    IncidentFollower,
    IncidentStatus,
    Role,
    RoleGrant,
    ScopeKind,
    Upload,
    User,
)
from app.services.permissions import grantees, has_role, has_role_in

HIDDEN_FROM_PUBLIC = (IncidentStatus.SUBMITTED, IncidentStatus.PENDING_REVIEW,
                      IncidentStatus.REJECTED)
MANAGERS = (Role.GRID_WORKER, Role.SECRETARY, Role.STAFF, Role.DEPARTMENT)


def is_follower(user: User, incident: Incident) -> bool:
    return db.session.scalar(sa.select(sa.func.count()).select_from(IncidentFollower).where(
        IncidentFollower.incident_id == incident.id,
        IncidentFollower.user_id == user.id)) > 0


def is_party(user: User, incident: Incident) -> bool:
    """Reporter, handler or manager: decided from loaded rows, no query (lists use this)."""
    return (incident.reporter_id == user.id or incident.assignee_id == user.id
            or has_role(user, MANAGERS, incident))


def row_keys(row) -> set:
    """The scope keys of an incident read as a row mapping (queries.LIST_COLUMNS)."""
    keys = {(ScopeKind.GRID, row["grid_id"]), (ScopeKind.COMPOUND, row["compound_id"]),
            (ScopeKind.COMMUNITY, row["community_id"])}
    if row["department_id"] is not None:
        keys.add((ScopeKind.DEPARTMENT, row["department_id"]))
    return keys


def is_party_row(user: User, row) -> bool:
    return (row["reporter_id"] == user.id or row["assignee_id"] == user.id
            or has_role_in(user, MANAGERS, row_keys(row)))


def can_view(user: User, incident: Incident) -> bool:
    """The full view (a follower sees the public view only)."""
    return is_party(user, incident)


def can_view_public(user: User, incident: Incident) -> bool:
    return (incident.public and incident.status not in HIDDEN_FROM_PUBLIC
            and has_role(user, Role.RESIDENT, incident)) or is_follower(user, incident)


def get_visible(user: User, incident_id: int, for_update: bool = False) -> Incident:
    """The incident if the user may see it (404 otherwise); `for_update` locks its row, so
    simultaneous actions on one incident take turns."""
    incident = db.session.get(Incident, incident_id, with_for_update=for_update or None)
    if incident is None or not (can_view(user, incident) or can_view_public(user, incident)):
        raise NotFound("随手拍不存在", code="incident_not_found")
    return incident


def _held_by(incident, members_of) -> list[int]:
    """The rule: `members_of(department_id)` gives a department's members."""
    if incident.department_id is not None:  # escalated: the department holds it until reassigned
        return members_of(incident.department_id)
    return [incident.assignee_id] if incident.assignee_id is not None else []


def holders(incident: Incident, grantees_of=grantees) -> list[int]:
    """The ids of whoever holds the incident now. `grantees_of(role, kind, scope_id)` may be
    a cached `permissions.grantees`."""
    return _held_by(incident, lambda department_id: grantees_of(
        Role.DEPARTMENT, ScopeKind.DEPARTMENT, department_id))


def holders_of(incidents) -> dict[int, list[int]]:
    """`holders` of many incidents (anything with `id`, `department_id`, `assignee_id`, such
    as rows of a select), by incident id: one query whatever the number of departments."""
    incidents = list(incidents)
    members = grantees_in(Role.DEPARTMENT, ScopeKind.DEPARTMENT,
                          {i.department_id for i in incidents})
    return {i.id: _held_by(i, lambda department_id: members.get(department_id, []))
            for i in incidents}


def grantees_in(role: Role, kind: ScopeKind, scope_ids) -> dict[int, list[int]]:
    """`permissions.grantees` for many scopes in one query: {scope id: [user ids]} (scopes
    nobody holds the role in are missing; None among `scope_ids` is ignored)."""
    scope_ids = sorted({i for i in scope_ids if i is not None})
    found: dict[int, list[int]] = {}
    if not scope_ids:
        return found
    for scope_id, user_id in db.session.execute(
            sa.select(RoleGrant.scope_id, RoleGrant.user_id).where(
                RoleGrant.role == role, RoleGrant.scope_kind == kind,
                RoleGrant.scope_id.in_(scope_ids)).order_by(RoleGrant.scope_id, RoleGrant.user_id)):
        found.setdefault(scope_id, []).append(user_id)
    return found


def holds(user: User, incident: Incident) -> bool:
    return has_role(user, Role.ADMIN) or user.id in holders(incident)


def can_view_photo(user: User, upload: Upload) -> bool:
    """Those who see the incident in full see all its photos; the public view shows only the
    report's own photos (as the detail does), not those of the handling."""
    incident = db.session.get(Incident, upload.ref_id)
    if incident is None:
        return False
    if can_view(user, incident):
        return True
    report = db.session.scalar(sa.select(IncidentEvent.photo_ids).where(
        IncidentEvent.incident_id == incident.id).order_by(IncidentEvent.id).limit(1))
    return can_view_public(user, incident) and upload.id in (report or [])
