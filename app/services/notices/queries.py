"""Reading notices: a compound's list (residents: published and superseded ones; its
secretary and staff: every status), one notice, and the staff's view of which compounds
of a community have published a week's notice."""
from __future__ import annotations

import sqlalchemy as sa

from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models import Community, Compound, Notice, NoticeStatus, Role, RoleGrant, ScopeKind, User
from app.services.notices import flow, weeks
from app.services.pagination import paginate
from app.services.permissions import authorize, has_role


def list_notices(user: User, compound_id: int | None, cursor: str | None, limit: int) -> dict:
    if compound_id is None:
        if user.household is None:
            raise ValidationFailed("请指定 compound_id", code="compound_required",
                                   errors={"query": {"compound_id": ["此项必填"]}})
        compound_id = user.household.building.compound_id
    compound = db.session.get(Compound, compound_id)
    if compound is None:
        raise NotFound("小区不存在", code="compound_not_found")
    query = sa.select(Notice).where(Notice.compound_id == compound.id)
    if not has_role(user, (Role.SECRETARY, Role.STAFF), compound):
        query = query.where(Notice.status.in_(flow.PUBLIC))
    return paginate(query, Notice.id, cursor, limit, descending=True)


def overview(user: User, community_id: int, week: str | None) -> dict:
    """Each compound of the community: whether it has a secretary and the week's notice
    (the newest version's status), for staff."""
    community = db.session.get(Community, community_id)
    if community is None:
        raise NotFound("社区不存在", code="community_not_found")
    authorize(user, Role.STAFF, community)
    year, number = weeks.parse(week) if week else weeks.last_week()
    compounds = db.session.scalars(sa.select(Compound).where(
        Compound.community_id == community.id).order_by(Compound.id)).all()
    ids = [c.id for c in compounds]
    secretaries = set(db.session.scalars(sa.select(RoleGrant.scope_id).where(
        RoleGrant.role == Role.SECRETARY, RoleGrant.scope_kind == ScopeKind.COMPOUND,
        RoleGrant.scope_id.in_(ids))))
    newest = {}
    for notice in db.session.scalars(sa.select(Notice).where(
            Notice.compound_id.in_(ids), Notice.iso_year == year, Notice.iso_week == number,
            Notice.status != NoticeStatus.SUPERSEDED).order_by(Notice.version)):
        if notice.status is not NoticeStatus.WITHDRAWN or notice.compound_id not in newest:
            newest[notice.compound_id] = notice
    return {"week": weeks.name(year, number), "items": [
        {"compound": c, "has_secretary": c.id in secretaries, "notice": newest.get(c.id),
         "published": bool(newest.get(c.id) and newest[c.id].status is NoticeStatus.PUBLISHED)}
        for c in compounds]}
