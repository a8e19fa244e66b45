"""The SLA ladder of an incident: which deadline applies now, and when each step falls due.

For the current deadline D (respond_by until someone accepts, then resolve_by):
    D - 15 min   remind whoever holds it (grid worker, or the department's members)
    D            breach: tell the compound's secretaries (督办)
    D + 60 min   still breached: tell the community's staff
`Incident.sla_next_at` holds the next step's time, so the SLA job (app.jobs.incidents)
reads only due rows.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from app.models import OPEN_STATUSES, Incident

REMIND_BEFORE = timedelta(minutes=15)
STAFF_AFTER = timedelta(minutes=60)
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
