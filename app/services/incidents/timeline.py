"""An incident's timeline and what it tells people: `record` (one IncidentEvent), `title`
and `place` (how an incident is named in messages), `tell` (queue a notification about it).

Every notification about a move names the timeline event that records the move: its dedupe
key is `incident:<incident id>:ev<event id>:<user id>`. Each occurrence (a second
escalation, a dispatch back to the same worker) is its own event, so none is swallowed by
an earlier one's key; a request that fails rolls its event and notifications back together.
"""
from __future__ import annotations

from app.extensions import db
from app.models import Incident, IncidentEvent, User
from app.models.base import utcnow
from app.services.notifications.outbox import notify


def record(incident: Incident, actor: User | None, action: str, from_status=None,
           note: str | None = None, photo_ids: list[int] | None = None) -> IncidentEvent:
    event = IncidentEvent(incident_id=incident.id, actor_id=actor.id if actor else None,
                          action=action, note=note, photo_ids=photo_ids or [],
                          from_status=from_status.value if from_status else None,
                          to_status=incident.status.value)
    db.session.add(event)
    return event


def title(incident: Incident) -> str:
    return f"{incident.category.name}：{incident.description}"


def place(incident: Incident) -> str:
    return f"{incident.building.compound.name}{incident.building.name}"


def tell(user_id: int | None, incident: Incident, template_key: str, event: IncidentEvent,
         note: str = "", **extra) -> None:
    """Queue a notification about `incident` and the timeline `event` it reports (flushes
    to learn the event's id); `extra` adds payload values (e.g. `to`)."""
    if user_id is None:
        return
    if event.id is None:
        db.session.flush()
    payload = {"incident_id": incident.id, "title": title(incident), "at": utcnow().isoformat(),
               "note": note or incident.status.label}
    if template_key == "incident_update":
        payload["status"] = incident.status.label
        payload["whose"] = "您上报的" if user_id == incident.reporter_id else "您关注的"
    else:
        payload.update(place=place(incident), deadline=incident.resolve_by.isoformat())
    notify(user_id, template_key, {**payload, **extra},
           dedupe_key=f"incident:{incident.id}:ev{event.id}:{user_id}")
