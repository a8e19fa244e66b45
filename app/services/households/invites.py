"""One-time invite codes: a grid worker (or the compound's secretary, the community's staff)
visiting a household gives its people a code that verifies them at once.

A code is eight characters (app.services.codes), valid for `INVITE_DAYS`, used once; a new
invite for the same household closes the previous one. A code that is wrong, used or
expired answers the same 422, so guessing tells nothing (the route is rate limited too).
"""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models import Household, HouseholdInvite, Role, User
from app.models.base import utcnow
from app.services import codes
from app.services.permissions import authorize

INVITE_DAYS = 7
INVITER_ROLES = (Role.GRID_WORKER, Role.SECRETARY, Role.STAFF)


def create_invite(actor: User, household_id: int) -> HouseholdInvite:
    household = db.session.get(Household, household_id)
    if household is None:
        raise NotFound("住户不存在", code="household_not_found")
    authorize(actor, INVITER_ROLES, household)
    now = utcnow()
    db.session.execute(sa.update(HouseholdInvite).where(
        HouseholdInvite.household_id == household.id, HouseholdInvite.closed_at.is_(None))
        .values(closed_at=now).execution_options(synchronize_session=False))
    invite = codes.insert_with_code(
        HouseholdInvite, "code", codes.new_invite_code, household_id=household.id,
        created_by_id=actor.id, created_at=now, expires_at=now + timedelta(days=INVITE_DAYS))
    invite.household = household
    db.session.commit()
    return invite


def redeem(user: User, code: str) -> HouseholdInvite:
    """The open, unexpired invite with this code, locked (flushes nothing); else 422."""
    invite = db.session.scalar(sa.select(HouseholdInvite).where(
        HouseholdInvite.code == codes.normalize_invite(code),
        HouseholdInvite.closed_at.is_(None)).with_for_update())
    if invite is None or invite.expires_at <= utcnow():
        raise ValidationFailed("邀请码无效或已过期，请向网格员索取新的邀请码",
                               code="invalid_invite_code",
                               errors={"json": {"invite_code": ["无效的邀请码"]}})
    return invite


def close_expired(now=None) -> int:
    """Housekeeping: expired invites give their codes back (flushes)."""
    now = now or utcnow()
    return db.session.execute(sa.update(HouseholdInvite).where(
        HouseholdInvite.closed_at.is_(None), HouseholdInvite.expires_at <= now)
        .values(closed_at=now).execution_options(synchronize_session=False)).rowcount
