"""The SLA ladder of an incident: which deadline applies now, and when each step falls due.

For the current deadline D (respond_by until someone accepts, then resolve_by):
    D - 15 min   remind whoever holds it (grid worker, or the department's members)
    D            breach: tell the compound's secretaries (督办)
    D + 60 min   still breached: tell the community's staff
`Incident.sla_next_at` holds the next step's time, so `sweep` (the incident-sla job) reads
only due rows, through its index, in batches. Each step of each deadline is sent once (its
dedupe key `sla:<incident>:<phase>:<step>:<deadline, epoch seconds>:<user>` names them), so
a reopened or reassigned incident, whose deadlines stand, is never reminded twice for the
same step, while a department given its own deadlines gets its own ladder.

Catch-up: a run sends, per incident, only the most senior step due (staff over secretary
over remind), so the first run after the job was stopped sends one message per incident, not
one per missed step; the steps it passed over are not sent later. A step past its deadline
says how late it is ("办结已超时 3 小时，请尽快督办", see `late_by`).
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
PHASE_NAMES = {"respond": "响应", "resolve": "办结"}


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


def late_by(late: timedelta) -> str:
    """How late, rounded down: 刚刚超时, 已超时 25 分钟, 已超时 3 小时 (under two days), 已超时 2 天."""
    minutes = int(late.total_seconds() // 60)
    if minutes < 1:
        return "刚刚超时"
    if minutes < 60:
        return f"已超时 {minutes} 分钟"
    if minutes < 48 * 60:
        return f"已超时 {minutes // 60} 小时"
    return f"已超时 {minutes // (24 * 60)} 天"


def _fire(incident: Incident, step: str, phase: str, deadline: datetime, now: datetime,
          grantees_of) -> int:
    late = step != "remind"  # the breach steps fall at the deadline or after it
    name = PHASE_NAMES[phase]
    note = f"{name}{late_by(now - deadline)}，请尽快督办" if late else f"{name}即将到期，请及时处理"
    sent = 0
    for user_id in _recipients(incident, step, grantees_of):
        sent += notify(user_id, "task_reminder",
                       {"title": title(incident), "deadline": deadline.isoformat(),
                        "note": note, "incident_id": incident.id},
                       dedupe_key=f"sla:{incident.id}:{phase}:{step}:"
                                  f"{int(deadline.timestamp())}:{user_id}")
    if late and sent:
        record(incident, None, f"sla_{phase}_{step}", incident.status,
               note=f"{name}{late_by(now - deadline)}，已提醒"
                    f"{'小区书记' if step == 'secretary' else '社区工作者'}")
    return sent


def sweep(now: datetime | None = None) -> dict:
    """Fire each due incident's most senior step due by `now` (one catch-up after a stop)
    and move its `sla_next_at` on (flushes; the job commits)."""
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
            due = [step for step, at in steps(incident) if at <= now]  # junior to senior
            if phase is not None and due:
                queued += _fire(incident, due[-1], phase[0], phase[1], now, grantees_of)
            incident.sla_next_at = next_step_at(incident, after=now)
        checked += len(batch)
        db.session.flush()
        if len(batch) < BATCH:
            break
    return {"checked": checked, "queued": queued}
