"""Who may see an incident, and how much.

Full view: the reporter, its followers, whoever handles it (grid worker, the department it
was escalated to), the grid worker of its grid, the compound's secretary, the community's
staff, admin. Public view (reporter masked, e.g. "1号楼住户"): residents of the same compound,
for categories that may appear publicly, once the report is accepted for handling. Anyone
else is told the incident does not exist (404), not that it is private.
"""
from __future__ import annotations

import sqlalchemy as sa

from app.errors import NotFound
from app.extensions import db
from app.models import Incident, IncidentFollower, IncidentStatus, Role, User
from app.services.permissions import has_role
from app.services.uploads import register_view_checker

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


def can_view(user: User, incident: Incident) -> bool:
    return is_party(user, incident) or is_follower(user, incident)


def can_view_public(user: User, incident: Incident) -> bool:
    return (incident.category.public and incident.status not in HIDDEN_FROM_PUBLIC
            and has_role(user, Role.RESIDENT, incident))


def get_visible(user: User, incident_id: int) -> Incident:
    incident = db.session.get(Incident, incident_id)
    if incident is None or not (can_view(user, incident) or can_view_public(user, incident)):
        raise NotFound("随手拍不存在", code="incident_not_found")
    return incident


def _photo_checker(user: User, incident_id: int) -> bool:
    incident = db.session.get(Incident, incident_id)
    return incident is not None and (can_view(user, incident) or can_view_public(user, incident))


register_view_checker("incident", _photo_checker)
