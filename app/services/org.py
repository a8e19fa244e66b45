"""The org tree as residents see it: compounds with buildings, and binding a home address."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.errors import NotFound
from app.extensions import db
from app.models import Building, Compound, Household, User
from app.services.common import get_or_create
from app.services.pagination import paginate


def list_compounds(cursor: str | None, limit: int) -> dict:
    query = sa.select(Compound).options(selectinload(Compound.buildings))
    return paginate(query, Compound.id, cursor, limit)


def bind_household(user: User, building_id: int, unit: str, room: str) -> User:
    """Bind the user to the household at (building, unit, room), creating it if new."""
    building = db.session.get(Building, building_id)
    if building is None:
        raise NotFound("楼栋不存在", code="building_not_found")
    unit, room = unit.strip(), room.strip()
    user.household = get_or_create(Household, building_id=building.id, unit=unit, room=room)
    db.session.commit()
    return user
