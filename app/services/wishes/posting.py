"""Posting a 微心愿: who may post for which household, content security, the household's
limit of open wishes, the secretary told.

A verified resident posts for their own household. A grid worker (of the building's grid)
or the compound's secretary posts for a household with no smartphone, recording that the
household agreed (`consent`); the wish then has no requester, and its poster stands in for
the household in what follows. Every wish waits for the secretary's check
(`pending_review`); text WeChat finds risky is refused, text it wants reviewed is held with
a flag the secretary sees.

Lock order: the household row (its open-wish count), nothing else.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import current_app

from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    OPEN_WISH_STATUSES,
    Household,
    PointsRule,
    Role,
    User,
    Wish,
    WishCategory,
    WishKeys,
    WishStatus,
)
from app.models.base import utcnow
from app.services import moderation
from app.services.permissions import has_role
from app.services.points import ledger as points
from app.services.uploads import attach, own_photos
from app.services.wishes.timeline import record, tell_secretaries
from app.wechat.security import UNAVAILABLE

ON_BEHALF_ROLES = (Role.GRID_WORKER, Role.SECRETARY)


def _household_for(user: User, household_id: int | None, consent: bool) -> tuple[int, bool]:
    """(household id, posted on its behalf) for this poster, or 403/404/422."""
    if household_id is None or household_id == user.household_id:
        if user.household_id is None or not has_role(user, Role.RESIDENT):
            raise Forbidden("只有认证住址的居民可以发布心愿", code="not_resident")
        return user.household_id, False
    household = db.session.get(Household, household_id)
    if household is None:
        raise NotFound("住户不存在", code="household_not_found")
    if not has_role(user, ON_BEHALF_ROLES, household):
        raise Forbidden("只有本网格的网格员或本小区书记可以代为发布心愿")
    if not consent:
        raise ValidationFailed("代为发布前请征得该户同意并勾选确认", code="consent_required",
                               errors={"json": {"consent": ["请确认已征得该户同意"]}})
    return household.id, True


def _open_count(household_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Wish).where(
        WishKeys.match(WishKeys.household_id == household_id),
        Wish.status.in_(OPEN_WISH_STATUSES)))


def _check_limit(household_id: int) -> None:
    limit = current_app.config["WISH_OPEN_PER_HOUSEHOLD"]
    if _open_count(household_id) >= limit:
        raise Conflict(f"每户同时最多有 {limit} 个进行中的心愿", code="wish_limit_reached",
                       errors={"limit": limit})


def post_wish(user: User, title: str, description: str, category: str,
              photo_ids: list[int] | None = None, campaign: str | None = None,
              household_id: int | None = None, consent: bool = False) -> Wish:
    """A new wish, pending the secretary's check. One transaction."""
    photo_ids = photo_ids or []
    kind = WishCategory(category)
    household_id, on_behalf = _household_for(user, household_id, consent)
    own_photos(user, photo_ids)  # refuse bad input before asking WeChat anything
    _check_limit(household_id)
    verdict = moderation.screen(
        user, f"{title}\n{description}" + (f"\n{campaign}" if campaign else ""))
    # Lock the household, then count again: two wishes posted at once cannot both be the
    # last one allowed.
    household = db.session.scalar(sa.select(Household).where(Household.id == household_id)
                                  .with_for_update())
    _check_limit(household.id)
    photos = own_photos(user, photo_ids)
    building = household.building
    now = utcnow()
    wish = Wish(household_id=household.id, building_id=building.id, grid_id=building.grid_id,
                compound_id=building.compound_id, community_id=building.compound.community_id,
                requester_id=None if on_behalf else user.id, poster_id=user.id,
                on_behalf=on_behalf, consent_recorded=on_behalf, title=title,
                description=description, category=kind, campaign=campaign,
                points=points.rule_points(PointsRule.WISH_FULFILLED),
                status=WishStatus.PENDING_REVIEW, flagged=verdict in ("review", UNAVAILABLE), created_at=now)
    db.session.add(wish)
    db.session.flush()
    wish.photo_ids = attach(photos, "wish", wish.id)
    record(wish, user, "post", note=description, photo_ids=wish.photo_ids)
    if wish.flagged:
        record(wish, None, "hold_for_review", WishStatus.PENDING_REVIEW, note="内容待人工审核")
    tell_secretaries(wish, "review", "待审核", "代为发布，请核实" if on_behalf else "请核实后审核")
    db.session.commit()
    return wish
