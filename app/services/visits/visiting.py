"""Logging a visit (三必问: situation, needs, problems) and reading a household's history.

A household is visited by its grid worker, the compound's secretary or the community's
staff; a 流动党员 contact is logged by the secretary of the member's compound (or staff).
A visit may raise one follow-up for the household in the same call: a 微心愿 posted on its
behalf (`app.services.wishes.posting.post_wish`, with the household's consent) or a 随手拍
report at its building (`app.services.incidents.filing.create_incident`). Those services
ask WeChat content security first, so nothing is written before them; their commits are
held (`holding_commits`) and the follow-up and the visit commit together, or neither.
"""
from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    Building,
    Compound,
    Household,
    PartyMember,
    PartyMemberKind,
    Role,
    User,
    Visit,
    VisitKind,
    VisitSubject,
)
from app.models.base import utcnow
from app.services import idempotency
from app.services.incidents import filing
from app.services.pagination import paginate
from app.services.permissions import has_role
from app.services.uploads import attach, own_photos
from app.services.visits.access import manages, visible_household, visitor_role
from app.services.wishes import posting

BACKDATE_DAYS = 31  # a visit is logged within a month of taking place
CLOCK_SKEW = timedelta(minutes=5)


@contextlib.contextmanager
def _together():
    """The nested services' commits only flush; one commit at the end (or, under an
    idempotent request that already holds them, the request's)."""
    if db.session.info.get("hold_commits"):
        yield
        return
    with idempotency.holding_commits():
        yield
    db.session.commit()


def _member(user: User, member_id: int) -> tuple[User, Compound]:
    """The floating member and their compound, for its secretary or the community's staff.
    Anyone else is told there is no such member (404), whoever the id names: a 403 would
    tell them who is a floating party member."""
    missing = NotFound("流动党员不存在", code="member_not_found")
    member = db.session.get(User, member_id)
    profile = db.session.get(PartyMember, member_id) if member else None
    if profile is None or profile.kind is not PartyMemberKind.FLOATING \
            or member.household is None:
        raise missing
    compound = member.household.building.compound
    if not has_role(user, (Role.SECRETARY, Role.STAFF), compound):
        raise missing
    return member, compound


def _when(visited_at: datetime | None, now: datetime) -> datetime:
    if visited_at is None:
        return now
    if visited_at > now + CLOCK_SKEW:
        raise ValidationFailed("走访时间不能晚于现在", code="visit_in_future",
                               errors={"json": {"visited_at": ["不能晚于现在"]}})
    if visited_at < now - timedelta(days=BACKDATE_DAYS):
        raise ValidationFailed(f"只能补记 {BACKDATE_DAYS} 天内的走访", code="visit_too_old",
                               errors={"json": {"visited_at": ["太久以前"]}})
    return visited_at


def log_visit(user: User, kind: str, situation: str, needs: str | None = None,
              problems: str | None = None, photo_ids: list[int] | None = None,
              household_id: int | None = None, member_id: int | None = None,
              visited_at: datetime | None = None, wish: dict | None = None,
              incident: dict | None = None) -> Visit:
    """Record a visit; with `wish` or `incident`, raise it for the household too."""
    photo_ids = photo_ids or []
    if (household_id is None) == (member_id is None):
        raise ValidationFailed("请指定走访的住户或流动党员之一", code="visit_subject_required")
    if wish and incident:
        raise ValidationFailed("一次走访只能同时提交一个心愿或一条随手拍",
                               code="one_follow_up_only")
    now = utcnow()
    when = _when(visited_at, now)
    if household_id is not None:
        household = visible_household(user, household_id)
        target, compound_id, grid_id = household, household.building.compound_id, \
            household.building.grid_id
    else:
        if wish or incident:
            raise ValidationFailed("流动党员联系记录不能代提心愿或随手拍",
                                   code="follow_up_needs_household")
        member, compound = _member(user, member_id)
        household = None
        target, compound_id, grid_id = compound, compound.id, member.household.building.grid_id
    own_photos(user, photo_ids)  # bad input fails before WeChat is asked anything
    role = visitor_role(user, target)
    with _together():
        wish_row = incident_row = None
        if wish:
            wish_row = posting.post_wish(user, household_id=household.id, consent=True,
                                         **wish)
        if incident:
            incident_row = filing.create_incident(
                user, photo_ids=[], building_id=_building_id(household_id), **incident)
        photos = own_photos(user, photo_ids)
        visit = Visit(subject=VisitSubject.HOUSEHOLD if household_id else
                      VisitSubject.FLOATING_MEMBER, household_id=household_id,
                      member_id=member_id, compound_id=compound_id, grid_id=grid_id,
                      visitor_id=user.id, visitor_role=role, kind=VisitKind(kind),
                      situation=situation, needs=needs, problems=problems,
                      wish_id=wish_row.id if wish_row else None,
                      incident_id=incident_row.id if incident_row else None,
                      visited_at=when, created_at=now)
        db.session.add(visit)
        db.session.flush()
        visit.photo_ids = attach(photos, "visit", visit.id)
        db.session.commit()
    return visit


def _building_id(household_id: int) -> int:
    # Read again: the nested services end transactions, which expires loaded rows.
    return db.session.scalar(sa.select(Household.building_id).where(
        Household.id == household_id))


def history(user: User, household_id: int | None = None, member_id: int | None = None,
            cursor: str | None = None, limit: int = 20) -> dict:
    """A household's (or a 流动党员's) visits, newest first: only to those who manage it."""
    if (household_id is None) == (member_id is None):
        raise ValidationFailed("请指定 household_id 或 member_id 之一",
                               code="visit_subject_required")
    if household_id is not None:
        visible_household(user, household_id)
        where = Visit.household_id == household_id
    else:
        _member(user, member_id)
        where = Visit.member_id == member_id
    query = sa.select(Visit).where(where).options(
        selectinload(Visit.visitor),
        selectinload(Visit.household).selectinload(Household.building)
        .selectinload(Building.compound))
    return paginate(query, Visit.id, cursor, limit, descending=True)


def get_visit(user: User, visit_id: int) -> Visit:
    visit = db.session.get(Visit, visit_id)
    if visit is None or not manages(
            user, visit.household or db.session.get(Compound, visit.compound_id)):
        raise NotFound("走访记录不存在", code="visit_not_found")
    return visit
