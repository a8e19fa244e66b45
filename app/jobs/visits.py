"""Visit jobs: the overdue climb to the secretary (`visit-escalation`) and the work-digest
source (households whose visit is due today or overdue, for their grid worker).

Thin wrappers: the rules are in app.services.visits (due, escalation)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.extensions import db
from app.jobs.digest import WorkItem
from app.models import Role, RoleGrant, ScopeKind
from app.models.base import utcnow
from app.services.visits import due, escalation


def run_escalation(dry_run: bool = False, now: datetime | None = None) -> dict:
    return escalation.escalate_overdue(now)


def open_work(user_ids: list[int], now: datetime | None = None) -> dict[int, list[WorkItem]]:
    """The work-digest source: each grid worker's households due a visit by the end of
    today, the longest overdue first ("走访：1号楼1单元101")."""
    now = now or utcnow()
    grids: dict[int, list[int]] = {}
    for user_id, grid_id in db.session.execute(sa.select(RoleGrant.user_id, RoleGrant.scope_id)
                                               .where(RoleGrant.role == Role.GRID_WORKER,
                                                      RoleGrant.scope_kind == ScopeKind.GRID,
                                                      RoleGrant.user_id.in_(user_ids))):
        grids.setdefault(grid_id, []).append(user_id)
    work: dict[int, list[WorkItem]] = {}
    for d in sorted(due.due_today(list(grids), now), key=lambda d: d.due_at):
        for user_id in grids.get(d.grid_id, ()):
            work.setdefault(user_id, []).append(
                WorkItem(f"走访：{escalation.place(d)}"[:20], due.is_overdue(d, now)))
    return work
