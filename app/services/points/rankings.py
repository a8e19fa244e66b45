"""每月一星: the monthly ranking of the points earned by ranked rules (incidents, wishes,
volunteering, staff adjustments), per compound or community, in Asia/Shanghai months.

`rankings(viewer, month, compound_id, community_id, limit)`; residents who opted out of the
ranking (`ledger.set_ranking_public`) appear masked (`mask_name`), except to themselves.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app import timeutil
from app.errors import Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import Building, Community, Compound, Household, LedgerEntry, PointsAccount, User
from app.services.permissions import works_in
from app.services.points.ledger import RANKED_RULES, home_community


def month_bounds(month: str | None) -> tuple[str, datetime, datetime]:
    """'2026-11' (default: this month in Asia/Shanghai) -> (month, start, end)."""
    if month is None:
        now = timeutil.local()
        year, mon = now.year, now.month
    else:
        year, mon = int(month[:4]), int(month[5:7])
    return (f"{year:04d}-{mon:02d}", *timeutil.month_bounds(year, mon))


def mask_name(nickname: str | None) -> str:
    return (nickname or "居民")[:1] + "**"


def rankings(viewer: User, month: str | None, compound_id: int | None,
             community_id: int | None, limit: int) -> dict:
    """每月一星: the top earners of a compound (or community) in a month.

    Earned means the ranked rules (incidents, wishes, volunteering, staff adjustments),
    not refunds or spending. Residents who opted out appear masked.
    """
    month, start, end = month_bounds(month)
    if compound_id is None and community_id is None:
        compound_id = _home_compound(viewer)
        if compound_id is None:
            raise ValidationFailed("请指定小区或社区", code="ranking_scope_required",
                                   errors={"compound_id": ["此项为必填项"]})
    if compound_id is not None:
        scope = db.session.get(Compound, compound_id)
        kind, where = "compound", Building.compound_id == compound_id
    else:
        scope = db.session.get(Community, community_id)
        kind, where = "community", Compound.community_id == community_id
    if scope is None:
        raise NotFound("小区或社区不存在", code="scope_not_found")
    # The community's verified residents see its rankings, and those who work in it.
    community = scope.id if kind == "community" else scope.community_id
    if community != home_community(viewer) and not works_in(viewer, community):
        raise Forbidden("只有本社区的认证居民可以查看排行", code="not_community_member")
    earned = sa.func.sum(LedgerEntry.amount).label("earned")
    query = (sa.select(LedgerEntry.account_id, earned)
             .join(User, User.id == LedgerEntry.account_id)
             .join(Household, Household.id == User.household_id)
             .join(Building, Building.id == Household.building_id)
             .join(Compound, Compound.id == Building.compound_id)
             .where(where, LedgerEntry.rule.in_(RANKED_RULES),
                    LedgerEntry.created_at >= start, LedgerEntry.created_at < end)
             .group_by(LedgerEntry.account_id)
             .having(earned > 0)
             .order_by(earned.desc(), LedgerEntry.account_id).limit(limit))
    rows = db.session.execute(query).all()
    people = {u.id: (u.nickname, public) for u, public in db.session.execute(
        sa.select(User, PointsAccount.ranking_public)
        .join(PointsAccount, PointsAccount.user_id == User.id)
        .where(User.id.in_([r.account_id for r in rows])))}
    items, rank, previous = [], 0, None
    for position, row in enumerate(rows, start=1):
        if row.earned != previous:  # ties share a rank: 1, 1, 3
            rank, previous = position, row.earned
        nickname, public = people[row.account_id]
        me = row.account_id == viewer.id
        items.append({"rank": rank, "points": int(row.earned), "is_me": me, "masked": not public,
                      "name": nickname if public or me else mask_name(nickname)})
    return {"period": "month", "month": month, "scope": {"kind": kind, "id": scope.id,
                                                          "name": scope.name},
            "items": items, "next_cursor": None}


def _home_compound(user: User) -> int | None:
    if user.household_id is None:
        return None
    return db.session.scalar(sa.select(Building.compound_id).join(Household)
                             .where(Household.id == user.household_id))
