"""Binding an address is a request, not a fact.

A request is `pending` until the building's grid worker, the compound's secretary, the
community's staff or a verified member of the same household approves it; an invite code
verifies it at once. Only then does the user get a resident's scope: `User.household_id`
points at the verified household and the user holds the RESIDENT grant. Rebinding is a new
request; when it is verified, the old membership is `left`. A pending request older than
`MEMBERSHIP_REQUEST_DAYS` is stale: it can no longer be approved, only asked again.
Points stay with the person whatever their household.
"""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    Building,
    Household,
    HouseholdMembership,
    MembershipStatus,
    Role,
    RoleGrant,
    User,
    VerifiedBy,
)
from app.models.base import utcnow
from app.services import transitions
from app.services.households import invites
from app.services.notifications.outbox import notify
from app.services.permissions import has_role
from app.services.transitions import Rule

M = MembershipStatus
APPROVER_ROLES = (Role.GRID_WORKER, Role.SECRETARY, Role.STAFF)


def is_member(user: User, household_id: int) -> bool:
    return user.household_id == household_id


def may_decide(user: User, membership: HouseholdMembership) -> bool:
    """The building's grid worker, the compound's secretary, the community's staff, admin,
    or a verified member of the household (never the requester)."""
    if membership.user_id == user.id:
        return False
    return (has_role(user, APPROVER_ROLES, membership.household)
            or is_member(user, membership.household_id))


def _requester(user: User, membership: HouseholdMembership) -> bool:
    return membership.user_id == user.id


def _requester_or_manager(user: User, membership: HouseholdMembership) -> bool:
    return _requester(user, membership) or has_role(user, APPROVER_ROLES, membership.household)


TRANSITIONS: dict[str, Rule] = {
    "approve": Rule((M.PENDING,), may_decide),
    "refuse": Rule((M.PENDING,), may_decide),
    "withdraw": Rule((M.PENDING,), _requester),
    "leave": Rule((M.VERIFIED,), _requester_or_manager),
}


def request_membership(user: User, building_id: int | None = None, unit: str | None = None,
                       room: str | None = None, invite_code: str | None = None
                       ) -> HouseholdMembership:
    """A pending request for the household at (building, unit, room), or with a valid
    invite code a verified membership at once. One transaction."""
    lock_user(user)
    invite = invites.redeem(user, invite_code) if invite_code else None
    household = invite.household if invite else _find_household(building_id, unit, room)
    if user.household_id == household.id:
        raise Conflict("你已经是这户的认证成员", code="already_member")
    _close_pending(user)
    membership = HouseholdMembership(user_id=user.id, household_id=household.id,
                                     status=M.PENDING, created_at=utcnow())
    membership.household = household
    db.session.add(membership)
    db.session.flush()
    if invite is not None:
        invite.used_by_id, invite.closed_at = user.id, utcnow()
        verify(membership, VerifiedBy.INVITE_CODE, invite.created_by_id)
    db.session.commit()
    return membership


def lock_user(user: User) -> None:
    """Serialise one user's membership changes (two requests at once, approve vs withdraw)."""
    db.session.execute(sa.select(User.id).where(User.id == user.id).with_for_update())


def _find_household(building_id: int | None, unit: str | None, room: str | None) -> Household:
    if building_id is None or unit is None or room is None:
        raise ValidationFailed("请选择楼栋并填写单元和房号，或输入邀请码", code="address_required",
                               errors={"json": {"building_id": ["此项为必填项"]}})
    if db.session.get(Building, building_id) is None:
        raise NotFound("楼栋不存在", code="building_not_found")
    household = db.session.scalar(sa.select(Household).where(
        Household.building_id == building_id, Household.unit == unit, Household.room == room))
    if household is None:  # never create junk households from what someone typed
        raise ValidationFailed("该楼栋没有这个单元或房号，请核对，或联系网格员登记",
                               code="household_not_found",
                               errors={"json": {"room": ["未找到该住户"]}})
    return household


def _close_pending(user: User) -> None:
    """A new request replaces the user's open one (it was for another address, or stale)."""
    db.session.execute(sa.update(HouseholdMembership).where(
        HouseholdMembership.user_id == user.id, HouseholdMembership.status == M.PENDING)
        .values(status=M.WITHDRAWN, decided_at=utcnow())
        .execution_options(synchronize_session=False))


def is_stale(membership: HouseholdMembership) -> bool:
    days = current_app.config["MEMBERSHIP_REQUEST_DAYS"]
    return membership.created_at < utcnow() - timedelta(days=days)


def transition(actor: User, membership_id: int, action: str,
               note: str | None = None) -> HouseholdMembership:
    membership = db.session.get(HouseholdMembership, membership_id)
    if membership is None or not (_requester(actor, membership) or may_decide(actor, membership)
                                  or has_role(actor, APPROVER_ROLES, membership.household)):
        raise NotFound("申请不存在", code="membership_not_found")
    db.session.execute(sa.select(User.id).where(User.id == membership.user_id)
                       .with_for_update())
    db.session.refresh(membership)  # what it is now, under the requester's lock
    transitions.check(TRANSITIONS, action, actor, membership, "申请")
    if action == "approve":
        if is_stale(membership):
            raise Conflict("该申请已过期，请对方重新提交", code="request_expired")
        verify(membership, _how(actor, membership), actor.id)
    elif action == "refuse":
        if not (note and note.strip()):
            raise ValidationFailed("请说明不通过的原因", code="validation_error",
                                   errors={"json": {"note": ["此项为必填项"]}})
        _decide(membership, M.REFUSED, actor.id, note.strip())
        _tell(membership, "未通过", note.strip())
    elif action == "withdraw":
        _decide(membership, M.WITHDRAWN, actor.id)
    else:
        leave(membership, actor.id)
    db.session.commit()
    return membership


def _how(actor: User, membership: HouseholdMembership) -> VerifiedBy:
    household = membership.household
    if has_role(actor, Role.GRID_WORKER, household):
        return VerifiedBy.GRID_WORKER
    if has_role(actor, Role.SECRETARY, household):
        return VerifiedBy.SECRETARY
    if has_role(actor, (Role.STAFF, Role.ADMIN), household):
        return VerifiedBy.STAFF
    return VerifiedBy.HOUSEHOLD_MEMBER


def _decide(membership: HouseholdMembership, status: MembershipStatus, actor_id: int | None,
            note: str | None = None) -> None:
    membership.status, membership.decided_by_id = status, actor_id
    membership.decided_at, membership.note = utcnow(), note


def verify(membership: HouseholdMembership, how: VerifiedBy, actor_id: int | None) -> None:
    """Make a membership the user's verified one (flushes): the old one is left, the user's
    household and RESIDENT grant follow. The caller holds the user's lock."""
    user = db.session.get(User, membership.user_id)
    current = db.session.scalar(sa.select(HouseholdMembership).where(
        HouseholdMembership.user_id == user.id, HouseholdMembership.status == M.VERIFIED))
    if current is not None:
        _decide(current, M.LEFT, actor_id, "已认证新住址")
        db.session.flush()  # one verified membership per user: the unique index checks
    _decide(membership, M.VERIFIED, actor_id)
    membership.verified_by = how
    user.household_id = membership.household_id
    if Role.RESIDENT not in user.roles:
        user.grants.append(RoleGrant(role=Role.RESIDENT))
    db.session.flush()
    _tell(membership, "已认证", "您已成为本户认证居民")


def leave(membership: HouseholdMembership, actor_id: int) -> None:
    """The member moves out (or staff remove them): no household, no resident scope."""
    user = db.session.get(User, membership.user_id)
    _decide(membership, M.LEFT, actor_id)
    user.household_id = None
    for grant in [g for g in user.grants if g.role is Role.RESIDENT]:
        user.grants.remove(grant)
    db.session.flush()


def _tell(membership: HouseholdMembership, result: str, note: str) -> None:
    household = membership.household
    building = household.building
    notify(membership.user_id, "membership_result", {
        "address": f"{building.compound.name}{building.name}{household.unit}单元{household.room}",
        "result": result, "note": note, "at": utcnow().isoformat()},
        dedupe_key=f"membership:{membership.id}:{membership.status.value}")


def leave_mine(user: User) -> HouseholdMembership:
    """`DELETE /me/household`: leave my verified household."""
    membership = db.session.scalar(sa.select(HouseholdMembership).where(
        HouseholdMembership.user_id == user.id, HouseholdMembership.status == M.VERIFIED))
    if membership is None:
        raise NotFound("你还没有认证的住址", code="membership_not_found")
    return transition(user, membership.id, "leave")
