"""The org tree as residents see it: compounds with their buildings."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.models import Compound
from app.services.pagination import paginate


def list_compounds(cursor: str | None, limit: int) -> dict:
    query = sa.select(Compound).options(selectinload(Compound.buildings))
    return paginate(query, Compound.id, cursor, limit)
