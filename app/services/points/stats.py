"""Points issued and spent by the residents of a community, compound or grid over a range,
for the console dashboard (one statement)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.extensions import db
from app.models import Building, Compound, Household, LedgerEntry, PointsRule, Role, User
from app.services.permissions import has_role

ROLES = (Role.SECRETARY, Role.STAFF)  # who sees incident figures sees these
REFUNDS = (PointsRule.CANTEEN_REFUND, PointsRule.REDEMPTION_REFUND)
PLACES = {"community": Compound.community_id, "compound": Building.compound_id,
          "grid": Building.grid_id}


def issued_spent(user, kind: str, target, since: datetime, until: datetime) -> dict | None:
    """Points earned (positive entries other than refunds) and spent (negative entries, less
    what was refunded) in [since, until) by the users whose verified household lies in the
    scope. Secretaries and staff of the scope; None for anyone else."""
    if not has_role(user, ROLES, target):
        return None
    amount = LedgerEntry.amount
    refund = LedgerEntry.rule.in_(REFUNDS)
    issued = sa.func.coalesce(sa.func.sum(sa.case((sa.and_(amount > 0, ~refund), amount),
                                                  else_=0)), 0)
    spent = sa.func.coalesce(sa.func.sum(sa.case((amount < 0, -amount),
                                                 (refund, -amount), else_=0)), 0)
    row = db.session.execute(
        sa.select(issued.label("issued"), spent.label("spent"))
        .select_from(LedgerEntry).join(User, User.id == LedgerEntry.account_id)
        .join(Household, Household.id == User.household_id)
        .join(Building, Building.id == Household.building_id)
        .join(Compound, Compound.id == Building.compound_id)
        .where(PLACES[kind] == target.id, LedgerEntry.created_at >= since,
               LedgerEntry.created_at < until)).one()
    return {"issued": int(row.issued), "spent": int(row.spent)}
