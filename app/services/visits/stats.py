"""The visit figures of the console dashboard: how many households and 流动党员 of a
community, compound or grid are due a visit by the end of today and how many are overdue,
by who owes the visit. Counts only: no names, addresses or care tags."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import Compound, Role
from app.models.base import utcnow
from app.services.visits import access, due

OWED_BY = (Role.GRID_WORKER, Role.SECRETARY)


def due_counts(user, kind: str, target) -> dict | None:
    """Subjects of the scope (`kind` community, compound or grid; `target` the org row) due
    and overdue now, in total and by the role that owes the visit (`due.compute`: one
    statement). The scope's grid worker, secretary or staff (`access.manages`); None for
    anyone else."""
    if not access.manages(user, target):
        return None
    if kind == "grid":
        scope = due.Scope(grid_ids=frozenset({target.id}))
    elif kind == "compound":
        scope = due.Scope(compound_ids=frozenset({target.id}))
    else:
        scope = due.Scope(compound_ids=frozenset(db.session.scalars(
            sa.select(Compound.id).where(Compound.community_id == target.id))))
    now = utcnow()
    subjects = due.compute(scope) if scope.grid_ids or scope.compound_ids else []
    out = {"subjects": len(subjects), "due": 0, "overdue": 0,
           "by_role": {role.value: {"label": role.label, "due": 0, "overdue": 0}
                       for role in OWED_BY}}
    for subject in subjects:
        if not due.is_due(subject, now):
            continue
        overdue = due.is_overdue(subject, now)
        out["due"] += 1
        out["overdue"] += overdue
        if (row := out["by_role"].get(subject.owed_by.value)) is not None:
            row["due"] += 1
            row["overdue"] += overdue
    return out
