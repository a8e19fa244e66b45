"""The SLA ladder of an incident: which deadline applies now, and when each step falls due.

For the current deadline D (respond_by until someone accepts, then resolve_by):
    D - 15 min   remind whoever holds it (grid worker, or the department's members)
    D            breach: tell the compound's secretaries (督办)
    D + 60 min   still breached: tell the community's staff
`Incident.sla_next_at` holds the next step's time. Each step of each deadline is sent once
(its dedupe key `sla:<incident>:<phase>:<step>:<deadline, epoch seconds>:<user>` names
them), so a reopened or reassigned incident, whose deadlines stand, is never reminded twice
for the same step, while a department given its own deadlines gets its own ladder.

`sweep` (the incident-sla job) is set-based: it reads due rows through the `sla_next_at`
index in batches of `BATCH` (plain rows, locked, skipping rows another sweep holds), and per
batch runs one query each for the holders (`access.holders_of`), the secretaries and the
staff it needs, one for the reminders already queued, one `notify_many`, one INSERT of the
breach steps' timeline events and one UPDATE that moves every row's `sla_next_at` on.

Catch-up: a run sends, per incident, only the most senior step due (staff over secretary
over remind), so the first run after the job was stopped sends one message per incident, not
one per missed step; the steps it passed over are not sent later. A step past its deadline
says how late it is ("办结已超时 3 小时，请尽快督办", see `late_by`).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from app.database import json_rows
from app.extensions import db
from app.models import (
    OPEN_STATUSES,
    Incident,
    IncidentCategory,
    IncidentEvent,
    Notification,
    Role,
    ScopeKind,
)
from app.models.base import utcnow
from app.services.incidents.access import grantees_in, holders_of
from app.services.notifications.outbox import notify_many

REMIND_BEFORE = timedelta(minutes=15)
STAFF_AFTER = timedelta(minutes=60)
BATCH = 1000  # incidents per batch
KEYS_PER_LOOKUP = 5000  # dedupe keys per IN list on SQLite (it binds at most 32,766 values)
PHASE_NAMES = {"respond": "响应", "resolve": "办结"}
EVENT_NOTES = {"secretary": "小区书记", "staff": "社区工作者"}

# What the sweep reads of a due incident: the ladder's inputs, the holders' and the
# recipients' scopes, and the title's parts (as timeline.title: "<category>：<description>").
DUE = (Incident.id, Incident.status, Incident.responded_at, Incident.respond_by,
       Incident.resolve_by, Incident.department_id, Incident.assignee_id,
       Incident.compound_id, Incident.community_id, Incident.description,
       sa.select(IncidentCategory.name).where(IncidentCategory.id == Incident.category_id)
       .scalar_subquery().label("category_name"))


def phase_of(incident) -> tuple[str, datetime] | None:
    """The current phase and its deadline, of an Incident or a row with its columns."""
    if incident.status not in OPEN_STATUSES:
        return None
    if incident.responded_at is None:
        return "respond", incident.respond_by
    return "resolve", incident.resolve_by


def steps(incident) -> list[tuple[str, datetime]]:
    phase = phase_of(incident)
    if phase is None:
        return []
    _, deadline = phase
    return [("remind", deadline - REMIND_BEFORE), ("secretary", deadline),
            ("staff", deadline + STAFF_AFTER)]


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


def _queued_before(keys: list[str]) -> set[str]:
    """Which of these dedupe keys are in the outbox already (a step sent by an earlier run)."""
    if _on_postgresql():
        given = json_rows("postgresql", "k", {"key": "text"}, [[key] for key in keys])
        return set(db.session.scalars(sa.select(Notification.dedupe_key).where(
            Notification.dedupe_key.in_(sa.select(given.c.key)))))
    seen: set[str] = set()
    for start in range(0, len(keys), KEYS_PER_LOOKUP):
        seen.update(db.session.scalars(sa.select(Notification.dedupe_key).where(
            Notification.dedupe_key.in_(keys[start:start + KEYS_PER_LOOKUP]))))
    return seen


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


def _fire(batch: list, now: datetime) -> int:
    """Queue each row's most senior due step and record the breach steps that told someone
    new on the timeline; returns how many reminders were queued."""
    due = []
    for row in batch:
        phase = phase_of(row)
        fallen = [step for step, at in steps(row) if at <= now]  # junior to senior
        if phase is not None and fallen:
            due.append((row, fallen[-1], *phase))
    if not due:
        return 0
    recipients = _recipients(due)
    messages, events = [], {}
    for row, step, phase, deadline in due:
        name, late = PHASE_NAMES[phase], step != "remind"  # breach steps: at or after D
        note = f"{name}{late_by(now - deadline)}，请尽快督办" if late else f"{name}即将到期，请及时处理"
        payload = {"title": f"{row.category_name}：{row.description}",
                   "deadline": deadline.isoformat(), "note": note, "incident_id": row.id}
        prefix = f"sla:{row.id}:{phase}:{step}:{int(deadline.timestamp())}:"
        for user_id in recipients[row.id, step]:
            messages.append((user_id, payload, prefix + str(user_id)))
        if late:
            events[prefix] = {
                "incident_id": row.id, "action": f"sla_{phase}_{step}",
                "from_status": row.status.value, "to_status": row.status.value,
                "note": f"{name}{late_by(now - deadline)}，已提醒{EVENT_NOTES[step]}"}
    before = _queued_before([key for _, _, key in messages])
    new = [message for message in messages if message[2] not in before]
    queued = notify_many("task_reminder", new) if new else 0
    told = {key.rsplit(":", 1)[0] + ":" for _, _, key in new}
    recorded = [event for prefix, event in events.items() if prefix in told]
    if recorded:
        _record(recorded, now)
    return queued


def _advance(batch: list, now: datetime) -> None:
    """Every row's `sla_next_at` to its next step after `now`, in one UPDATE."""
    ids = [row.id for row in batch]
    at = [next_step_at(row, after=now) for row in batch]
    if _on_postgresql():
        rows = json_rows("postgresql", "v", {"id": "integer", "at": "timestamp"},
                          [[i, _naive(a)] for i, a in zip(ids, at, strict=True)])
        db.session.execute(sa.update(Incident).where(Incident.id == rows.c.id)
                           .values(sla_next_at=rows.c.at)
                           .execution_options(synchronize_session=False))
    else:
        db.session.execute(sa.update(Incident).where(Incident.id.in_(ids))
                           .values(sla_next_at=sa.case(
                               {i: sa.bindparam(None, a, type_=Incident.sla_next_at.type)
                                for i, a in zip(ids, at, strict=True)}, value=Incident.id))
                           .execution_options(synchronize_session=False))
    moved = set(ids)  # an Incident loaded in this session reads the new value
    for loaded in list(db.session.identity_map.values()):
        if isinstance(loaded, Incident) and loaded.id in moved:
            db.session.expire(loaded, ["sla_next_at"])


def sweep(now: datetime | None = None) -> dict:
    """Fire each due incident's most senior step due by `now` (one catch-up after a stop)
    and move its `sla_next_at` on, batch by batch (the job commits)."""
    now = now or utcnow()
    checked = queued = 0
    while True:
        batch = db.session.execute(
            sa.select(*DUE).where(Incident.sla_next_at <= now)
            .order_by(Incident.sla_next_at, Incident.id)
            .limit(BATCH).with_for_update(skip_locked=True)).all()
        if batch:
            queued += _fire(batch, now)
            _advance(batch, now)
        checked += len(batch)
        if len(batch) < BATCH:
            break
    return {"checked": checked, "queued": queued}
