"""Who sees a household's visits and care tags: its grid worker (the building's grid), the
compound's secretary and the community's staff (and admin). Nobody else, ever: a
neighbour, a party member or a department gets 403 for a household that exists."""
from __future__ import annotations

from app.errors import Forbidden, NotFound
from app.extensions import db
from app.models import Compound, Household, Role, Upload, User, Visit
from app.services.permissions import has_role

MANAGING_ROLES = (Role.GRID_WORKER, Role.SECRETARY, Role.STAFF)


def manages(user: User, target) -> bool:
    return has_role(user, MANAGING_ROLES, target)


def visible_household(user: User, household_id: int) -> Household:
    """The household if the user may read its visits and care tags; 404 / 403."""
    household = db.session.get(Household, household_id)
    if household is None:
        raise NotFound("住户不存在", code="household_not_found")
    if not manages(user, household):
        raise Forbidden("只有该户的网格员、小区书记和社区工作者可以查看走访记录和关爱标签")
    return household


def visitor_role(user: User, target) -> Role:
    """The role a visit is logged under: the first managing role the user really holds
    for the target (admin's has_role answers yes to every role)."""
    held = {grant.role for grant in user.grants}
    for role in MANAGING_ROLES:
        if role in held and has_role(user, role, target):
            return role
    return Role.ADMIN


def can_view_photo(user: User, upload: Upload) -> bool:
    visit = db.session.get(Visit, upload.ref_id)
    if visit is None:
        return False
    return manages(user, visit.household or db.session.get(Compound, visit.compound_id))
