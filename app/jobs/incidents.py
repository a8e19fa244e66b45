"""Incident jobs: the SLA ladder (every minute), auto-close, and the work-digest source.

The SLA ladder (steps in app.services.incident_sla): 15 minutes before the deadline remind
whoever holds the incident; at the deadline tell the compound's secretaries (督办); an hour
later the community's staff. Each step is sent once (its dedupe key names incident, phase and step), so a reopened
incident, whose deadlines stand, is never reminded twice for the same step. The job reads
only due rows, through the index on `sla_next_at`, in batches.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.jobs.digest import WorkItem, register_source
from app.models import OPEN_STATUSES, CloseReason, Incident, IncidentStatus, Role, ScopeKind
from app.models.base import utcnow
from app.services.incident_sla import next_step_at, phase_of, steps
from app.services.incidents import record, title
from app.services.permissions import holders
from app.services.notifications import notify

AUTO_CLOSE_AFTER = timedelta(hours=72)
BATCH = 500


def _recipients(incident: Incident, step: str, cache: dict) -> list[int]:
    if step == "remind":
        if incident.department_id is not None:  # the department holds it (incident_flow)
            return _grantees(Role.DEPARTMENT, ScopeKind.DEPARTMENT, incident.department_id,
                             cache)
        return [incident.assignee_id] if incident.assignee_id else []
    if step == "secretary":
        return _grantees(Role.SECRETARY, ScopeKind.COMPOUND, incident.compound_id, cache)
    return _grantees(Role.STAFF, ScopeKind.COMMUNITY, incident.community_id, cache)


def _grantees(role: Role, kind: ScopeKind, scope_id: int | None, cache: dict) -> list[int]:
    # One job run asks for the same secretaries many times: once per scope is enough.
    key = (role, kind, scope_id)
    if key not in cache:
        cache[key] = holders(role, kind, scope_id)
    return cache[key]


def _fire(incident: Incident, step: str, phase: str, deadline: datetime, cache: dict) -> int:
    late = step != "remind"
    note = "已超时，请尽快督办" if late else "即将到期，请及时处理"
    sent = 0
    for user_id in _recipients(incident, step, cache):
        sent += notify(user_id, "task_reminder",
                       {"title": title(incident), "deadline": deadline.isoformat(),
                        "note": note, "ref_id": incident.id},
                       dedupe_key=f"sla:{incident.id}:{phase}:{step}:{user_id}")
    if late and sent:
        record(incident, None, f"sla_{phase}_{step}", incident.status,
               note=f"{'响应' if phase == 'respond' else '办结'}超时，已提醒"
                    f"{'小区书记' if step == 'secretary' else '社区工作者'}")
    return sent


def run_sla(dry_run: bool = False, now: datetime | None = None) -> dict:
    now = now or utcnow()
    checked = queued = 0
    cache: dict = {}
    while True:
        batch = list(db.session.scalars(
            sa.select(Incident).options(selectinload(Incident.category))  # for title()
            .where(Incident.sla_next_at <= now).order_by(Incident.sla_next_at, Incident.id)
            .limit(BATCH).with_for_update(skip_locked=True)))
        for incident in batch:
            phase = phase_of(incident)
            if phase is not None:
                for step, at in steps(incident):
                    if at <= now:
                        queued += _fire(incident, step, phase[0], phase[1], cache)
            incident.sla_next_at = next_step_at(incident, after=now)
        checked += len(batch)
        db.session.flush()
        if len(batch) < BATCH:
            break
    return {"checked": checked, "queued": queued}


def run_auto_close(dry_run: bool = False, now: datetime | None = None) -> dict:
    """Resolved and not confirmed within 72 hours: closed, and the timeline says so."""
    now = now or utcnow()
    due = list(db.session.scalars(sa.select(Incident).where(
        Incident.status == IncidentStatus.RESOLVED,
        Incident.resolved_at < now - AUTO_CLOSE_AFTER).with_for_update(skip_locked=True)))
    for incident in due:
        incident.status = IncidentStatus.CLOSED
        incident.closed_at = now
        incident.close_reason = CloseReason.AUTO_CLOSED
        record(incident, None, "auto_close", IncidentStatus.RESOLVED,
               note=CloseReason.AUTO_CLOSED.label)
    return {"closed": len(due)}


def open_work(user_ids: list[int]) -> dict[int, list[WorkItem]]:
    """The work-digest source: each grid worker's open incidents."""
    now = utcnow()
    rows = db.session.execute(sa.select(Incident.assignee_id, Incident.description,
                                        Incident.resolve_by)
                              .where(Incident.assignee_id.in_(user_ids),
                                     Incident.status.in_(OPEN_STATUSES))
                              .order_by(Incident.resolve_by)).all()
    work: dict[int, list[WorkItem]] = {}
    for assignee, description, resolve_by in rows:
        work.setdefault(assignee, []).append(WorkItem(description[:20], resolve_by < now))
    return work


register_source(open_work)
