"""The SLA ladder of an incident: which deadline applies now, and when each step falls due.

For the current deadline D (respond_by until someone accepts, then resolve_by):
    D - 15 min   remind whoever holds it (grid worker, or the department's members)
    D            breach: tell the compound's secretaries (督办)
    D + 60 min   still breached: tell the community's staff
`Incident.sla_next_at` (a row of `incident_sla_clocks`) holds the next step's time. Each
step of each deadline is sent once
(its dedupe key `sla:<incident>:<phase>:<step>:<deadline, epoch seconds>:<user>` names
them), so a reopened or reassigned incident, whose deadlines stand, is never reminded twice
for the same step, while a department given its own deadlines gets its own ladder.

`sweep` (the incident-sla job) is set-based: it reads due clocks through their index in
batches of `BATCH` (plain rows joined to their incidents; the clocks locked, skipping those
another sweep or a transition holds; each batch starts past the last one's position, so no
batch walks over the rows moved on before it), and per
batch runs one query each for the holders (`access.holders_of`), the secretaries and the
staff it needs, one `queue_many` (it skips the reminders queued before and says which it
queued), one INSERT of the
breach steps' timeline events and one UPDATE that moves every clock on (a narrow row with
two indexes: the incident's own row is not written).

Catch-up: a run sends, per incident, only the most senior step due (staff over secretary
over remind), so the first run after the job was stopped sends one message per incident, not
one per missed step; the steps it passed over are not sent later. A step past its deadline
says how late it is ("办结已超时 3 小时，请尽快督办", see `late_by`).
"""
from __future__ import annotations

from collections import namedtuple
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from app.database import expire_loaded, json_rows
from app.extensions import db
from app.models import (
    OPEN_STATUSES,
    Incident,
    IncidentCategory,
    IncidentEvent,
    IncidentSlaClock,
    Role,
    ScopeKind,
)
from app.models.base import utcnow
from app.services.incidents.access import grantees_in, holders_of
from app.services.notifications.outbox import queue_many

REMIND_BEFORE = timedelta(minutes=15)
STAFF_AFTER = timedelta(minutes=60)
BATCH = 1000  # incidents per batch
PHASE_NAMES = {"respond": "响应", "resolve": "办结"}
EVENT_NOTES = {"secretary": "小区书记", "staff": "社区工作者"}

# What the sweep reads of a due incident: the ladder's inputs, the holders' and the
# recipients' scopes, and the title's parts (as timeline.title: "<category>：<description>").
# Table columns (a Core select): the rows come back without the ORM's loading.
_incidents, _clocks = Incident.__table__, IncidentSlaClock.__table__
DUE = (*(_incidents.c[name] for name in (
    "id", "status", "responded_at", "respond_by", "resolve_by", "department_id",
    "assignee_id", "compound_id", "community_id", "description")),
    sa.select(IncidentCategory.__table__.c.name)
    .where(IncidentCategory.__table__.c.id == _incidents.c.category_id)
    .scalar_subquery().label("category_name"), _clocks.c.next_at)
# A due row as a plain named tuple: the ladder reads a dozen fields of every row, and a
# tuple's attribute is several times cheaper to read than a result Row's.
Due = namedtuple("Due", [column.name for column in DUE])


def phase_of(incident) -> tuple[str, datetime] | None:
    """The current phase and its deadline, of an Incident or a row with its columns."""
    if incident.status not in OPEN_STATUSES:
        return None
    if incident.responded_at is None:
        return "respond", incident.respond_by
    return "resolve", incident.resolve_by


def _ladder(deadline: datetime) -> tuple[tuple[str, datetime], ...]:
    """A deadline's steps, junior to senior (their times ascending)."""
    return (("remind", deadline - REMIND_BEFORE), ("secretary", deadline),
            ("staff", deadline + STAFF_AFTER))


def steps(incident) -> list[tuple[str, datetime]]:
    phase = phase_of(incident)
    return [] if phase is None else list(_ladder(phase[1]))


def next_step_at(incident, after: datetime | None = None) -> datetime | None:
    """The first ladder step after `after` (any step, past ones included, when None)."""
    times = [at for _, at in steps(incident) if after is None or at > after]
    return min(times) if times else None


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


def _recipients(due: list[tuple]) -> dict[tuple[int, str], list[int]]:
    """{(incident id, step): user ids} for a batch's due steps, one query per kind of step."""
    by_step: dict[str, list] = {"remind": [], "secretary": [], "staff": []}
    for row, step, _, _ in due:
        by_step[step].append(row)
    found = {}
    if by_step["remind"]:
        for incident_id, users in holders_of(by_step["remind"]).items():
            found[incident_id, "remind"] = users
    for step, role, kind, scope in (("secretary", Role.SECRETARY, ScopeKind.COMPOUND, "compound_id"),
                                    ("staff", Role.STAFF, ScopeKind.COMMUNITY, "community_id")):
        if by_step[step]:
            users = grantees_in(role, kind, {getattr(row, scope) for row in by_step[step]})
            for row in by_step[step]:
                found[row.id, step] = users.get(getattr(row, scope), [])
    return found


# On PostgreSQL a batch's values go in as one JSON document (`json_array_elements`): a
# statement binds one parameter however many rows it touches (psycopg converts every
# parameter, and every element of an array, one by one; one json.dumps is far cheaper).
# SQLite binds in C: plain IN lists, CASE and executemany.
def _on_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _naive(at: datetime | None) -> str | None:
    """A UTCDateTime as stored (naive UTC), for a JSON row."""
    return None if at is None else at.astimezone(timezone.utc).replace(tzinfo=None).isoformat()


def _record(events: list[dict], now: datetime) -> None:
    """The breach steps' timeline events (as timeline.record: no actor, status unchanged)."""
    if not _on_postgresql():
        db.session.execute(sa.insert(IncidentEvent), [
            {**event, "actor_id": None, "photo_ids": [], "created_at": now} for event in events])
        return
    columns = {"incident_id": "integer", "action": "text", "from_status": "text",
               "to_status": "text", "note": "text"}
    rows = json_rows("postgresql", "e", columns, [[event[c] for c in columns] for event in events])
    db.session.execute(sa.insert(IncidentEvent).from_select(
        ["incident_id", "action", "from_status", "to_status", "note", "actor_id", "photo_ids",
         "created_at"],
        sa.select(rows.c.incident_id, rows.c.action, rows.c.from_status, rows.c.to_status,
                  rows.c.note, sa.null(), sa.literal([], sa.JSON),
                  sa.literal(now, IncidentEvent.created_at.type))))


def _fire(batch: list, now: datetime) -> tuple[int, list[datetime | None]]:
    """Queue each row's most senior due step and record the breach steps that told someone
    new on the timeline; returns how many reminders were queued and each row's next step."""
    due, next_at = [], []
    for row in batch:
        phase = phase_of(row)
        fallen = upcoming = None
        for step, at in () if phase is None else _ladder(phase[1]):
            if at <= now:
                fallen = step  # the most senior one due so far
            elif upcoming is None:
                upcoming = at
        if fallen:
            due.append((row, fallen, *phase))
        next_at.append(upcoming)
    if not due:
        return 0, next_at
    recipients = _recipients(due)
    messages, events = [], {}
    for row, step, phase, deadline in due:
        name, late = PHASE_NAMES[phase], step != "remind"  # breach steps: at or after D
        how_late = late_by(now - deadline) if late else ""
        note = f"{name}{how_late}，请尽快督办" if late else f"{name}即将到期，请及时处理"
        payload = {"title": f"{row.category_name}：{row.description}",
                   "deadline": deadline.isoformat(), "note": note, "incident_id": row.id}
        prefix = f"sla:{row.id}:{phase}:{step}:{int(deadline.timestamp())}:"
        for user_id in recipients[row.id, step]:
            messages.append((user_id, payload, prefix + str(user_id)))
        if late:
            events[prefix] = {
                "incident_id": row.id, "action": f"sla_{phase}_{step}",
                "from_status": row.status.value, "to_status": row.status.value,
                "note": f"{name}{how_late}，已提醒{EVENT_NOTES[step]}"}
    # A key queued by an earlier run is skipped (ON CONFLICT): the step is not sent twice,
    # and its timeline event is recorded only where someone was told for the first time.
    queued = queue_many("task_reminder", messages) if messages else []
    told = {key.rsplit(":", 1)[0] + ":" for key in queued}
    recorded = [event for prefix, event in events.items() if prefix in told]
    if recorded:
        _record(recorded, now)
    return len(queued), next_at


def _advance(ids: list[int], at: list[datetime | None]) -> None:
    """Each incident's clock to its next step (empty when none is left), in one UPDATE."""
    clock = IncidentSlaClock
    if _on_postgresql():
        rows = json_rows("postgresql", "v", {"id": "integer", "at": "timestamp"},
                         [[i, _naive(a)] for i, a in zip(ids, at, strict=True)])
        db.session.execute(sa.update(clock).where(clock.incident_id == rows.c.id)
                           .values(next_at=rows.c.at)
                           .execution_options(synchronize_session=False))
    else:
        db.session.execute(sa.update(clock).where(clock.incident_id.in_(ids))
                           .values(next_at=sa.case(
                               {i: sa.bindparam(None, a, type_=clock.next_at.type)
                                for i, a in zip(ids, at, strict=True)}, value=clock.incident_id))
                           .execution_options(synchronize_session=False))
    expire_loaded(clock, "incident_id", ids, ["next_at"])  # a loaded clock reads the new value


def sweep(now: datetime | None = None) -> dict:
    """Fire each due incident's most senior step due by `now` (one catch-up after a stop)
    and move its clock on, batch by batch (the job commits)."""
    now = now or utcnow()
    checked = queued = 0
    clock = _clocks.c
    after = sa.true()
    while True:
        batch = [Due._make(row) for row in db.session.execute(
            sa.select(*DUE).join(_clocks, clock.incident_id == _incidents.c.id)
            .where(clock.next_at <= now, after)
            .order_by(clock.next_at, clock.incident_id)
            .limit(BATCH).with_for_update(of=_clocks, skip_locked=True))]
        if batch:
            fired, next_at = _fire(batch, now)
            _advance([row.id for row in batch], next_at)
            queued += fired
            last = batch[-1]
            after = sa.tuple_(clock.next_at, clock.incident_id) > (last.next_at, last.id)
        checked += len(batch)
        if len(batch) < BATCH:
            break
    return {"checked": checked, "queued": queued}
