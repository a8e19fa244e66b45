"""The wish funnel of the console dashboard: the wishes posted in a range and how far they
got, counted in one statement."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.extensions import db
from app.models import Wish, WishKeys
from app.services.permissions import has_role
from app.services.wishes import access

STAGES = ("posted", "published", "claimed", "fulfilled", "completed")
# Searched through wish_keys (app.models.wishes.WishKeys), counted on wishes.
COLUMNS = {"community": WishKeys.community_id, "compound": WishKeys.compound_id,
           "grid": WishKeys.grid_id}


def funnel(user, kind: str, target, since: datetime, until: datetime) -> dict | None:
    """Wishes of a community, compound or grid (`kind`, the org row `target`) posted in
    [since, until) and how many reached each stage (published, claimed, fulfilled,
    completed: a stage's time is set). The wish managers of the scope (`access.MANAGERS`);
    None for anyone else."""
    if not has_role(user, access.MANAGERS, target):
        return None
    stamps = (Wish.created_at, Wish.published_at, Wish.claimed_at, Wish.fulfilled_at,
              Wish.completed_at)
    row = db.session.execute(sa.select(*(sa.func.count(column).label(name)
                                         for name, column in zip(STAGES, stamps, strict=True))).where(
        WishKeys.match(COLUMNS[kind] == target.id, WishKeys.created_at >= since,
                       WishKeys.created_at < until))).one()
    return dict(row._mapping)
