"""Overdue visits climb to the compound's secretary after `VISIT_ESCALATE_DAYS` (3) days,
once per subject and missed due time: a `VisitEscalation` row (unique on both) records the
climb, so the job may run as often as it likes, and a later miss climbs again."""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import Role, RoleGrant, ScopeKind, VisitEscalation, VisitSubject
from app.models.base import utcnow
from app.services.notifications.outbox import notify_many
from app.services.visits import due as dues

ESCALATE_AFTER = timedelta(days=3)
CHUNK = 1000


def _seen(keys: list[str]) -> set[tuple[str, datetime]]:
    seen: set[tuple[str, datetime]] = set()
    for start in range(0, len(keys), CHUNK):
        seen.update(db.session.execute(sa.select(
            VisitEscalation.subject_key, VisitEscalation.due_at).where(
            VisitEscalation.subject_key.in_(keys[start:start + CHUNK]))).all())
    return seen


def place(d: dues.Due) -> str:
    """Where the visit is owed, for its grid worker and secretary: "1号楼1单元101"."""
    if d.subject is VisitSubject.FLOATING_MEMBER:
        return f"流动党员{d.place['name']}"
    return f"{d.place['building']['name']}{d.place['unit']}单元{d.place['room']}"


def escalate_overdue(now: datetime | None = None) -> dict:
    """Tell each compound's secretaries about visits overdue 3 days that nobody told them
    about yet (flush; the job commits)."""
    now = now or utcnow()
    overdue = [d for d in dues.compute(dues.Scope()) if d.due_at + ESCALATE_AFTER <= now]
    seen = _seen(sorted({d.key for d in overdue}))
    fresh = [d for d in overdue if (d.key, d.due_at) not in seen]
    if not fresh:
        return {"overdue": len(overdue), "escalated": 0, "queued": 0}
    db.session.execute(sa.insert(VisitEscalation), [
        {"subject_key": d.key, "due_at": d.due_at, "compound_id": d.compound_id,
         "created_at": now} for d in fresh])
    secretaries: dict[int, list[int]] = {}
    for user_id, compound_id in db.session.execute(
            sa.select(RoleGrant.user_id, RoleGrant.scope_id).where(
                RoleGrant.role == Role.SECRETARY, RoleGrant.scope_kind == ScopeKind.COMPOUND,
                RoleGrant.scope_id.in_({d.compound_id for d in fresh}))):
        secretaries.setdefault(compound_id, []).append(user_id)
    queued = notify_many("visit_overdue", [
        (user_id, {"title": "六必访走访逾期", "place": place(d),
                   "deadline": d.due_at.isoformat(),
                   "note": f"已超过 {ESCALATE_AFTER.days} 天，请督促网格员走访" if
                   d.owed_by is Role.GRID_WORKER else "一月一联未完成，请尽快联系"},
         f"visit-overdue:{d.key}:{int(d.due_at.timestamp())}:{user_id}")
        for d in fresh for user_id in secretaries.get(d.compound_id, ())])
    return {"overdue": len(overdue), "escalated": len(fresh), "queued": queued}
