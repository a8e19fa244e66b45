"""Reading membership requests: the approvers' queue and a user's own requests."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from app.errors import Forbidden
from app.extensions import db
from app.models import (
    Building,
    Compound,
    Household,
    HouseholdMembership,
    MembershipStatus,
    Role,
    ScopeKind,
    User,
)
from app.models.base import utcnow
from app.services.households.membership import APPROVER_ROLES
from app.services.pagination import paginate
from app.services.permissions import has_role

LOADS = (selectinload(HouseholdMembership.household).selectinload(Household.building)
         .selectinload(Building.compound),)


def _scope_filter(user: User):
    """The requests `user` may decide: by their grants' scopes, and their own household's."""
    if has_role(user, Role.ADMIN):
        return sa.true()
    conditions = []
    for grant in user.grants:
        if grant.role not in APPROVER_ROLES:
            continue
        if grant.scope_kind is ScopeKind.GRID:
            conditions.append(Building.grid_id == grant.scope_id)
        elif grant.scope_kind is ScopeKind.COMPOUND:
            conditions.append(Building.compound_id == grant.scope_id)
        elif grant.scope_kind is ScopeKind.COMMUNITY:
            conditions.append(Compound.community_id == grant.scope_id)
    if user.household_id is not None:
        conditions.append(Household.id == user.household_id)
    return sa.or_(*conditions) if conditions else None


def queue(user: User, status: str, cursor: str | None, limit: int) -> dict:
    """Requests in the approver's scope (pending by default, oldest first; stale ones are
    left out of the pending queue), each with the household's verified members."""
    where = _scope_filter(user)
    if where is None:
        raise Forbidden("只有网格员、小区书记、社区工作者或本户成员可以审核", code="forbidden")
    query = (sa.select(HouseholdMembership).options(*LOADS)
             .join(Household, Household.id == HouseholdMembership.household_id)
             .join(Building, Building.id == Household.building_id)
             .join(Compound, Compound.id == Building.compound_id)
             .where(where, HouseholdMembership.status == MembershipStatus(status),
                    HouseholdMembership.user_id != user.id))
    if status == MembershipStatus.PENDING.value:
        days = current_app.config["MEMBERSHIP_REQUEST_DAYS"]
        query = query.where(HouseholdMembership.created_at >= utcnow() - timedelta(days=days))
    page = paginate(query, HouseholdMembership.id, cursor, limit)
    _attach_people(page["items"])
    return page


def _attach_people(items: list[HouseholdMembership]) -> None:
    """The requester and each household's verified members, in two queries for the page."""
    users = {u.id: u for u in db.session.scalars(sa.select(User).where(
        User.id.in_({m.user_id for m in items})))}
    members: dict[int, list[User]] = {}
    for member in db.session.scalars(sa.select(User).where(
            User.household_id.in_({m.household_id for m in items})).order_by(User.id)):
        members.setdefault(member.household_id, []).append(member)
    for membership in items:
        membership.requester = users.get(membership.user_id)
        membership.members = members.get(membership.household_id, [])


def my_requests(user: User, cursor: str | None, limit: int) -> dict:
    query = (sa.select(HouseholdMembership).options(*LOADS)
             .where(HouseholdMembership.user_id == user.id))
    page = paginate(query, HouseholdMembership.id, cursor, limit, descending=True)
    for membership in page["items"]:
        membership.requester, membership.members = user, []
    return page
