"""Who may do what at a canteen, and the look-ups every canteen module shares.

- Kitchen side: the canteen staff (`Role.CANTEEN_STAFF`, scoped to the community) run the
  canteen: menus, check-in, the kitchen sheet with delivery addresses. Community staff
  (`Role.STAFF`) manage menus too and keep the diner profiles and their flags.
- Diners: a user books for themself through their verified household (a resident only once
  verified); for someone else (代订) as a verified member of the diner's household or as
  the grid worker of the diner's grid.
- A record the user may not see at all is 404; a draft meal is seen by its staff only.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.errors import Forbidden, NotFound
from app.extensions import db
from app.models import (
    Booking,
    Building,
    Canteen,
    Compound,
    DinerProfile,
    Household,
    Meal,
    MealState,
    Role,
    User,
)
from app.services.permissions import has_role
from app.services.transitions import Rule

KITCHEN = (Role.CANTEEN_STAFF,)
MENU_ROLES = (Role.CANTEEN_STAFF, Role.STAFF)


def is_kitchen(user: User, record) -> bool:
    """Canteen staff of the record's community (a canteen, meal or booking), or admin."""
    return has_role(user, KITCHEN, record)


def runs_menus(user: User, record) -> bool:
    return has_role(user, MENU_ROLES, record)


def keeps_diners(user: User, household: Household) -> bool:
    return has_role(user, Role.STAFF, household)


S = MealState
# The meal's state machine (app.services.transitions); closing at the cutoff and finishing
# after the window are the periphery's jobs.
MEAL_TRANSITIONS: dict[str, Rule] = {
    "update": Rule((S.DRAFT, S.PUBLISHED), runs_menus),
    "publish": Rule((S.DRAFT,), runs_menus),
    "cancel": Rule((S.DRAFT, S.PUBLISHED, S.CLOSED), runs_menus),
}


def get_canteen(canteen_id: int) -> Canteen:
    canteen = db.session.get(Canteen, canteen_id)
    if canteen is None:
        raise NotFound("食堂不存在", code="canteen_not_found")
    return canteen


def get_meal(user: User, meal_id: int, *, lock: bool = False) -> Meal:
    """The meal if the user may see it (drafts: its staff only), else 404 `meal_not_found`."""
    query = sa.select(Meal).where(Meal.id == meal_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    meal = db.session.scalar(query)
    if meal is None or (meal.state is MealState.DRAFT and not runs_menus(user, meal)):
        raise NotFound("餐次不存在", code="meal_not_found")
    return meal


def get_diner(diner_id: int) -> DinerProfile:
    diner = db.session.scalar(sa.select(DinerProfile).options(selectinload(DinerProfile.flags))
                              .where(DinerProfile.id == diner_id))
    if diner is None:
        raise NotFound("用餐人不存在", code="diner_not_found")
    return diner


def household_of(household_id: int) -> Household:
    household = db.session.get(Household, household_id)
    if household is None:
        raise NotFound("住户不存在", code="household_not_found")
    return household


def community_of_household(household_id: int) -> int:
    return db.session.scalar(sa.select(Compound.community_id).join(Building).join(Household)
                             .where(Household.id == household_id))


def moved_out(diner: DinerProfile) -> bool:
    """A diner with an account who is no longer verified in the profile's household (they
    left it; their own next booking moves the profile): nobody books for them there."""
    return diner.user_id is not None and diner.user.household_id != diner.household_id


def may_book_for(user: User, diner: DinerProfile) -> bool:
    """代订: a verified member of the diner's household, or the grid worker of its grid;
    never for someone who moved out."""
    if moved_out(diner):
        return False
    if user.household_id is not None and user.household_id == diner.household_id:
        return True
    return has_role(user, Role.GRID_WORKER, diner.household)


def sees_diner(user: User, diner: DinerProfile) -> bool:
    return may_book_for(user, diner) or has_role(user, (Role.STAFF,), diner.household)


def sees_booking(user: User, booking: Booking) -> bool:
    return (booking.booker_id == user.id or booking.diner.user_id == user.id
            or runs_menus(user, booking.meal))


def require_resident(user: User) -> None:
    if user.household_id is None:
        raise Forbidden("请先完成住址认证后再订餐", code="not_resident")
