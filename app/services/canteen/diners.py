"""Diner profiles and their staff-verified flags (低保 / 特困 / 低保边缘 / 失能 / 残疾).

Community staff keep them: a profile is a person of a household (a user of it, or an elder
with no smartphone recorded by name), with a birth year; a flag carries its evidence note,
who verified it and its expiry (the last local day it counts). Residents of the household
and its grid worker see the household's diners (to book for them) but never the evidence.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import DinerCategory, DinerFlag, DinerProfile, Role, User
from app.models.base import utcnow
from app.services.canteen import access
from app.services.permissions import authorize, has_role


def _category(kind: str) -> DinerCategory:
    try:
        return DinerCategory(kind)
    except ValueError:
        raise ValidationFailed("未知的认定类别", code="unknown_category", errors={
            "kind": [f"应为 {', '.join(c.value for c in DinerCategory)} 之一"]}) from None


def list_diners(user: User, household_id: int | None) -> list[DinerProfile]:
    """A household's diners (default: my own household's)."""
    household_id = household_id or user.household_id
    if household_id is None:
        return []
    household = access.household_of(household_id)
    if not (user.household_id == household.id or has_role(user, (Role.STAFF, Role.GRID_WORKER),
                                                          household)):
        raise NotFound("住户不存在", code="household_not_found")
    diners = [diner for diner in db.session.scalars(sa.select(DinerProfile).options(
        selectinload(DinerProfile.flags), selectinload(DinerProfile.user))
        .where(DinerProfile.household_id == household.id).order_by(DinerProfile.id))
        if not access.moved_out(diner)]
    staff = access.keeps_diners(user, household)
    for diner in diners:
        diner.show_evidence = staff
    return diners


def create(actor: User, data: dict) -> DinerProfile:
    household = access.household_of(data["household_id"])
    authorize(actor, Role.STAFF, household)
    user_id = data.get("user_id")
    if user_id is not None:
        member = db.session.get(User, user_id)
        if member is None or member.household_id != household.id:
            raise ValidationFailed("该用户不是这户已认证的成员", code="not_household_member",
                                   errors={"user_id": ["不是这户的已认证成员"]})
        existing = db.session.scalar(sa.select(DinerProfile.id)
                                     .where(DinerProfile.user_id == user_id))
        if existing is not None:
            raise Conflict("该用户已有用餐档案", code="diner_exists",
                           errors={"diner_id": existing})
    diner = DinerProfile(household_id=household.id, user_id=user_id, name=data["name"],
                         birth_year=data.get("birth_year"), created_by_id=actor.id)
    db.session.add(diner)
    db.session.commit()
    diner.show_evidence = True
    return diner


def _staff_diner(actor: User, diner_id: int) -> DinerProfile:
    diner = access.get_diner(diner_id)
    if not access.keeps_diners(actor, diner.household):
        if access.sees_diner(actor, diner):
            authorize(actor, Role.STAFF, diner.household)  # 403: seen, not kept
        raise NotFound("用餐人不存在", code="diner_not_found")
    diner.show_evidence = True
    return diner


def update(actor: User, diner_id: int, data: dict) -> DinerProfile:
    diner = _staff_diner(actor, diner_id)
    for name in ("name", "birth_year"):
        if name in data:
            setattr(diner, name, data[name])
    db.session.commit()
    return diner


def set_flag(actor: User, diner_id: int, kind: str, data: dict) -> DinerProfile:
    """Verify (or re-verify) a category with its evidence and expiry."""
    category = _category(kind)
    diner = _staff_diner(actor, diner_id)
    flag = next((f for f in diner.flags if f.kind is category), None)
    if flag is None:
        flag = DinerFlag(kind=category)
        diner.flags.append(flag)
    flag.evidence, flag.expires_on = data["evidence"], data.get("expires_on")
    flag.verified_by_id, flag.verified_at = actor.id, utcnow()
    db.session.commit()
    return diner


def remove_flag(actor: User, diner_id: int, kind: str) -> DinerProfile:
    category = _category(kind)
    diner = _staff_diner(actor, diner_id)
    flag = next((f for f in diner.flags if f.kind is category), None)
    if flag is None:
        raise NotFound("该用餐人没有这项认定", code="flag_not_found")
    diner.flags.remove(flag)
    db.session.commit()
    return diner
