"""Households' care tags (困难家庭, 独居老人 ...), kept by the household's grid worker, the
compound's secretary and the community's staff. Personal data: read and written only by
those roles (`access.visible_household`), never shown to residents or in any public view."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import CareTag, Household, HouseholdTag, User
from app.services.visits.access import visible_household


def care_tags(user: User, household_id: int) -> list[CareTag]:
    return [t.tag for t in visible_household(user, household_id).tags]


def set_care_tags(user: User, household_id: int, tags: list[str]) -> list[CareTag]:
    """Replace the household's tags. One transaction; a real change is an edit of the
    household (its `version` moves on, so a console form showing the old tags is stale)."""
    household = visible_household(user, household_id)
    wanted = {CareTag(t) for t in tags}
    if wanted != {t.tag for t in household.tags}:
        household.version = Household.version + 1
    db.session.execute(sa.delete(HouseholdTag).where(HouseholdTag.household_id == household.id))
    db.session.add_all(HouseholdTag(household_id=household.id, tag=t) for t in sorted(wanted))
    db.session.commit()
    db.session.expire(household)
    return sorted(wanted)
