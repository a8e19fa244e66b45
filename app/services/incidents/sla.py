"""The SLA ladder of an incident: which deadline applies now, and when each step falls due.

For the current deadline D (respond_by until someone accepts, then resolve_by):
    D - 15 min   remind whoever holds it (grid worker, or the department's members)
    D            breach: tell the compound's secretaries (督办)
    D + 60 min   still breached: tell the community's staff
`Incident.sla_next_at` holds the next step's time, so `sweep` (the incident-sla job) reads
only due rows, through its index, in batches. Each step is sent once (its dedupe key names
incident, phase and step), so a reopened incident, whose deadlines stand, is never reminded
twice for the same step.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import OPEN_STATUSES, Incident, Role, ScopeKind
from app.models.base import utcnow
from app.services.incidents.access import holders
from app.services.incidents.timeline import record, title
from app.services.notifications.outbox import notify
from app.services.permissions import grantees

REMIND_BEFORE = timedelta(minutes=15)
STAFF_AFTER = timedelta(minutes=60)
BATCH = 500


def phase_of(incident: Incident) -> tuple[str, datetime] | None:
    if incident.status not in OPEN_STATUSES:
        return None
    if incident.responded_at is None:
        return "respond", incident.respond_by
    return "resolve", incident.resolve_by


def steps(incident: Incident) -> list[tuple[str, datetime]]:
    phase = phase_of(incident)
    if phase is None:
        return []
    _, deadline = phase
    return [("remind", deadline - REMIND_BEFORE), ("secretary", deadline),
            ("staff", deadline + STAFF_AFTER)]


def next_step_at(incident: Incident, after: datetime | None = None) -> datetime | None:
    """The first ladder step after `after` (any step, past ones included, when None)."""
    times = [at for _, at in steps(incident) if after is None or at > after]
    return min(times) if times else None


def _recipients(incident: Incident, step: str, grantees_of) -> list[int]:
    if step == "remind":
        return holders(incident, grantees_of)
    if step == "secretary":
        return grantees_of(Role.SECRETARY, ScopeKind.COMPOUND, incident.compound_id)
    return grantees_of(Role.STAFF, ScopeKind.COMMUNITY, incident.community_id)


def _cached_grantees():
    # One sweep asks for the same secretaries many times: once per scope is enough.
    cache: dict = {}

    def grantees_of(role: Role, kind: ScopeKind, scope_id: int | None) -> list[int]:
        key = (role, kind, scope_id)
        if key not in cache:
            cache[key] = grantees(role, kind, scope_id)
        return cache[key]
    return grantees_of


def _fire(incident: Incident, step: str, phase: str, deadline: datetime, grantees_of) -> int:
    late = step != "remind"
    note = "已超时，请尽快督办" if late else "即将到期，请及时处理"
    sent = 0
    for user_id in _recipients(incident, step, grantees_of):
        sent += notify(user_id, "task_reminder",
                       {"title": title(incident), "deadline": deadline.isoformat(),
                        "note": note, "ref_id": incident.id},
                       dedupe_key=f"sla:{incident.id}:{phase}:{step}:{user_id}")
    if late and sent:
        record(incident, None, f"sla_{phase}_{step}", incident.status,
               note=f"{'响应' if phase == 'respond' else '办结'}超时，已提醒"
                    f"{'小区书记' if step == 'secretary' else '社区工作者'}")
    return sent


def sweep(now: datetime | None = None) -> dict:
    """Fire every ladder step due by `now` and move each incident's `sla_next_at` on
    (flushes; the job commits)."""
    now = now or utcnow()
    checked = queued = 0
    grantees_of = _cached_grantees()
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
                        queued += _fire(incident, step, phase[0], phase[1], grantees_of)
            incident.sla_next_at = next_step_at(incident, after=now)
        checked += len(batch)
        db.session.flush()
        if len(batch) < BATCH:
            break
    return {"checked": checked, "queued": queued}
