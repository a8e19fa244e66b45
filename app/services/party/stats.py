"""The 双报到 figures of the console dashboard: the members confirmed at a community and
those behind this year's bar (times or hours), counted in the database."""
from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from app import timeutil
from app.errors import Forbidden, NotFound
from app.extensions import db
from app.models import Community, PartyRegistration, RegistrationStatus, Role, ServiceLog, User
from app.services.party import progress
from app.services.permissions import has_role


def behind_the_bar(user, community_id: int, limit: int = 20) -> dict:
    """The community's confirmed members, how many are behind this (local) year's bar, and
    the `limit` furthest behind with their times and hours. The community's staff only, as
    the roster. Two statements whatever the number of members."""
    community = db.session.get(Community, community_id)
    if community is None:
        raise NotFound("社区不存在", code="community_not_found")
    if not has_role(user, Role.STAFF, community):
        raise Forbidden()
    start, end = progress.year_bounds(timeutil.today().year)
    target_times, target_hours = progress.targets()
    done = (sa.select(ServiceLog.member_id, sa.func.count().label("times"),
                      sa.func.sum(ServiceLog.hours).label("hours"))
            .where(ServiceLog.verified_at.is_not(None), ServiceLog.check_in_at >= start,
                   ServiceLog.check_in_at < end)
            .group_by(ServiceLog.member_id).subquery())
    times = sa.func.coalesce(done.c.times, 0)
    hours = sa.func.coalesce(done.c.hours, 0)
    behind = sa.or_(times < target_times, hours < target_hours)
    members = (sa.select(PartyRegistration.user_id).where(
        PartyRegistration.community_id == community_id,
        PartyRegistration.status == RegistrationStatus.CONFIRMED)
        .outerjoin(done, done.c.member_id == PartyRegistration.user_id))
    total, lagging = db.session.execute(members.with_only_columns(
        sa.func.count(), sa.func.count(sa.case((behind, 1))))).one()
    rows = db.session.execute(
        members.with_only_columns(User.nickname, times.label("times"), hours.label("hours"))
        .join(User, User.id == PartyRegistration.user_id).where(behind)
        .order_by(times, hours, PartyRegistration.id).limit(limit)).all()
    return {"members": total, "behind": lagging, "target_times": target_times,
            "target_hours": target_hours,
            "rows": [{"name": r.nickname, "times": r.times,
                      "hours": Decimal(str(r.hours)).quantize(Decimal("0.1"))} for r in rows]}
