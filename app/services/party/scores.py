"""党员积分: a party member's yearly score and grade, the items staff enter for it, and the
quarterly public list of a community's members.

A score counts, in one Asia/Shanghai calendar year:
- verified service hours (a log counts in the year its check-in falls, like the bar in
  `progress`), times the `hour` weight;
- 微心愿 completed with the member as claimer (`completed_at` in the year), times `wish`;
- the points of the items staff entered for that year (± at most SCORE_ITEM_MAX each, with
  a reason; never changed or deleted: a mistake is corrected by another item).
It is the member's score wherever they served (a transfer keeps the year's work). Weights
(`PARTY_SCORE_WEIGHTS`) and the lowest score of each grade (`PARTY_SCORE_GRADES`) are
settings; the grades are 优秀 / 合格 / 基本合格 / 不合格. With the defaults, a member who
just meets the yearly bar of 20 hours scores 60: 合格.

The score is 评 yearly and 公示 quarterly: the public list of a quarter counts what happened
from the start of the year to the quarter's end (the current quarter: so far, `complete`
false), for the members registered at the community during the quarter, and shows their
names, scores and grades only. The community's verified residents, its registered party
members and those who work in it (grid workers, secretaries, staff) may read it; anyone
else 403 `not_community_member`, like the points rankings.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm

from app import timeutil
from app.errors import Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    Community,
    PartyRegistration,
    PartyScoreItem,
    RegistrationStatus,
    Role,
    ServiceLog,
    User,
    Wish,
    WishStatus,
)
from app.models.base import utcnow
from app.services.notifications.outbox import notify
from app.services.pagination import decode_cursor, encode_cursor, paginate
from app.services.party.registrations import confirmed_community, staff_community
from app.services.permissions import has_role, not_for_oneself, works_in
from app.services.points.ledger import member_communities

WEIGHT_DEFAULTS = {"hour": 3, "wish": 5}
GRADE_DEFAULTS = {"excellent": 90, "qualified": 60, "basic": 40}
# Best first; a score at or above a grade's threshold has that grade ("unqualified": the rest).
GRADES = (("excellent", "优秀"), ("qualified", "合格"), ("basic", "基本合格"),
          ("unqualified", "不合格"))
TENTH = Decimal("0.1")
ZERO = Decimal("0.0")


@dataclass(frozen=True)
class Parts:
    """What a member's score is made of."""
    hours: Decimal = ZERO
    times: int = 0
    wishes: int = 0
    items: int = 0


# --- settings ---------------------------------------------------------------------------

def _setting(name: str, defaults: dict) -> dict[str, Decimal]:
    given = current_app.config.get(name) or {}
    if not isinstance(given, dict) or not set(given) <= set(defaults):
        raise RuntimeError(f"{name} must be a JSON object with keys among {sorted(defaults)}")
    values = {}
    for key, default in defaults.items():
        value = given.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise RuntimeError(f"{name}[{key!r}] must be a number, at least 0")
        values[key] = Decimal(str(value))
    return values


def weights() -> dict[str, Decimal]:
    """Score per verified hour and per completed wish (`PARTY_SCORE_WEIGHTS`)."""
    return _setting("PARTY_SCORE_WEIGHTS", WEIGHT_DEFAULTS)


def thresholds() -> dict[str, Decimal]:
    """The lowest score of 优秀, 合格 and 基本合格 (`PARTY_SCORE_GRADES`), descending."""
    values = _setting("PARTY_SCORE_GRADES", GRADE_DEFAULTS)
    if not values["excellent"] >= values["qualified"] >= values["basic"]:
        raise RuntimeError("PARTY_SCORE_GRADES must descend: excellent ≥ qualified ≥ basic")
    return values


def grade(score: Decimal, limits: dict[str, Decimal] | None = None) -> dict:
    """{code, name} of the grade a score earns."""
    limits = limits or thresholds()
    for code, name in GRADES[:-1]:
        if score >= limits[code]:
            return {"code": code, "name": name}
    code, name = GRADES[-1]
    return {"code": code, "name": name}


def score_of(parts: Parts, factors: dict[str, Decimal] | None = None) -> Decimal:
    factors = factors or weights()
    return (parts.hours * factors["hour"] + parts.wishes * factors["wish"]
            + parts.items).quantize(TENTH)


# --- the parts, for many members at once ------------------------------------------------

def year_bounds(year: int) -> timeutil.Bounds:
    return timeutil.at_local(date(year, 1, 1)), timeutil.at_local(date(year + 1, 1, 1))


def quarter_bounds(year: int, quarter: int) -> timeutil.Bounds:
    first = timeutil.month_bounds(year, 3 * quarter - 2)[0]
    return first, timeutil.month_bounds(year, 3 * quarter)[1]


def parts(members, year: int, until: datetime | None = None) -> dict[int, Parts]:
    """{member: Parts} for `members` (a list of ids, or a SELECT of them) in a local year,
    counting only what happened before `until` (default: the year's end). Three grouped
    queries, whatever the number of members."""
    start, end = year_bounds(year)
    end = min(end, until) if until is not None else end
    logs = db.session.execute(
        sa.select(ServiceLog.member_id, sa.func.count(), sa.func.sum(ServiceLog.hours))
        .where(ServiceLog.member_id.in_(members), ServiceLog.verified_at.is_not(None),
               ServiceLog.check_in_at >= start, ServiceLog.check_in_at < end)
        .group_by(ServiceLog.member_id))
    wishes = dict(db.session.execute(
        sa.select(Wish.claimer_id, sa.func.count())
        .where(Wish.claimer_id.in_(members), Wish.status == WishStatus.COMPLETED,
               Wish.completed_at >= start, Wish.completed_at < end)
        .group_by(Wish.claimer_id)).all())
    items = dict(db.session.execute(
        sa.select(PartyScoreItem.member_id, sa.func.sum(PartyScoreItem.points))
        .where(PartyScoreItem.member_id.in_(members), PartyScoreItem.year == year,
               PartyScoreItem.created_at < end)
        .group_by(PartyScoreItem.member_id)).all())
    found = {member: Parts(hours=Decimal(str(hours or 0)).quantize(TENTH), times=times)
             for member, times, hours in logs}
    for member in set(found) | set(wishes) | set(items):
        base = found.get(member, Parts())
        found[member] = Parts(base.hours, base.times, int(wishes.get(member, 0)),
                              int(items.get(member, 0)))
    return found


def summary(found: Parts, factors=None, limits=None) -> dict:
    """A member's parts with the score and grade they give."""
    score = score_of(found, factors)
    return {"hours": found.hours, "times": found.times, "wishes": found.wishes,
            "items_points": found.items, "score": score, "grade": grade(score, limits)}


# --- a member's own score ---------------------------------------------------------------

def _check_year(year: int, today: date) -> None:
    if year > today.year:
        raise ValidationFailed("该年度尚未开始", code="year_not_started",
                               errors={"year": [f"不能晚于 {today.year} 年"]})


def mine(user: User, year: int | None, cursor: str | None, limit: int) -> dict:
    """My score and grade for a year (default this one), with the weights and thresholds
    and the items staff entered for me (keyset, newest first). Reads only."""
    if not has_role(user, Role.PARTY_MEMBER):
        raise Forbidden("只有党员可以查看", code="not_party_member")
    today = timeutil.today()
    year = year or today.year
    _check_year(year, today)
    factors, limits = weights(), thresholds()
    found = parts([user.id], year).get(user.id, Parts())
    items = paginate(sa.select(PartyScoreItem).where(
        PartyScoreItem.member_id == user.id, PartyScoreItem.year == year)
        .options(orm.selectinload(PartyScoreItem.entered_by)),
        PartyScoreItem.id, cursor, limit, descending=True)
    return {"year": year, **summary(found, factors, limits), "weights": factors,
            "thresholds": limits, "items": items}


# --- staff-entered items ----------------------------------------------------------------

def add_item(actor: User, member_id: int, community_id: int, year: int | None, points: int,
             reason: str) -> PartyScoreItem:
    """Staff of a community add (+) or take (-) points from the yearly score of a member
    confirmed there, for this year or the last (the assessment of a year ends in the next
    one; default this year), never their own; the member is told. One transaction."""
    staff_community(actor, community_id)
    not_for_oneself(actor, member_id, "不能给自己录入党员积分")
    member = db.session.get(User, member_id)
    if member is None or not has_role(member, Role.PARTY_MEMBER) \
            or confirmed_community(member_id) != community_id:
        raise ValidationFailed("该党员未在本社区报到", code="member_not_registered",
                               errors={"json": {"member_id": ["未在本社区报到"]}})
    this_year = timeutil.today().year
    year = year or this_year
    if year not in (this_year, this_year - 1):
        raise ValidationFailed(f"只能录入 {this_year - 1} 或 {this_year} 年的积分",
                               code="score_year_closed",
                               errors={"json": {"year": [f"应为 {this_year - 1} 或 {this_year}"]}})
    now = utcnow()
    item = PartyScoreItem(member_id=member_id, community_id=community_id, year=year,
                          points=points, reason=reason, entered_by_id=actor.id, created_at=now)
    item.entered_by = actor
    db.session.add(item)
    db.session.flush()
    notify(member_id, "party_update", {
        "title": "党员积分", "note": f"{year}年度{points:+d}分：{reason}", "at": now.isoformat()},
        dedupe_key=f"party:score-item:{item.id}")
    db.session.commit()
    return item


def list_items(actor: User, community_id: int, year: int | None, member_id: int | None,
               cursor: str | None, limit: int) -> dict:
    """The items entered at a community, for its staff: newest first, by year and member."""
    staff_community(actor, community_id)
    query = (sa.select(PartyScoreItem).where(PartyScoreItem.community_id == community_id)
             .options(orm.selectinload(PartyScoreItem.entered_by),
                      orm.selectinload(PartyScoreItem.member)))
    if year is not None:
        query = query.where(PartyScoreItem.year == year)
    if member_id is not None:
        query = query.where(PartyScoreItem.member_id == member_id)
    return paginate(query, PartyScoreItem.id, cursor, limit, descending=True)


# --- the quarterly public list ----------------------------------------------------------

def _may_read_public(viewer: User, community_id: int) -> bool:
    return community_id in member_communities(viewer) or works_in(viewer, community_id)


def members_during(community_id: int, start: datetime, end: datetime) -> sa.Select:
    """The ids of the members registered (confirmed) at a community at some time in
    [start, end): confirmed before its end, and not ended before its start."""
    return sa.select(PartyRegistration.user_id).where(
        PartyRegistration.community_id == community_id,
        PartyRegistration.status.in_((RegistrationStatus.CONFIRMED, RegistrationStatus.ENDED)),
        PartyRegistration.decided_at < end,
        sa.or_(PartyRegistration.ended_at.is_(None), PartyRegistration.ended_at >= start))


def _after(cursor: str) -> tuple[Decimal, int]:
    """The (−score, member) a page of the public list starts after."""
    after = decode_cursor(cursor)
    try:
        score, member = after
        score = Decimal(score)
        if not (score.is_finite() and isinstance(member, int)):
            raise ValueError
    except (TypeError, ValueError, ArithmeticError):
        raise ValidationFailed("分页参数无效", code="invalid_cursor",
                               errors={"cursor": ["无效的游标"]}) from None
    return -score, member


def public_list(viewer: User, community_id: int, year: int | None, quarter: int | None,
                cursor: str | None, limit: int) -> dict:
    """The quarter's 党员积分 公示 of a community (default: this year's current quarter):
    each member's name, score and grade, best first (ties share a rank), keyset over
    (score, member). Reads only."""
    community = db.session.get(Community, community_id)
    if community is None:
        raise NotFound("社区不存在", code="community_not_found")
    if not _may_read_public(viewer, community_id):
        raise Forbidden("只有本社区的居民和工作人员可以查看", code="not_community_member")
    now = utcnow()
    today = timeutil.today(now)
    year = year or today.year
    quarter = quarter or ((today.month - 1) // 3 + 1 if year == today.year else 4)
    start, end = quarter_bounds(year, quarter)
    if start > now:
        raise ValidationFailed("该季度尚未开始", code="quarter_not_started",
                               errors={"quarter": ["该季度尚未开始"]})
    members = members_during(community_id, start, end)
    factors, limits = weights(), thresholds()
    found = parts(members.scalar_subquery(), year, until=end)
    names = dict(db.session.execute(
        sa.select(User.id, User.nickname).where(User.id.in_(members.scalar_subquery()))).all())
    ranked = sorted(((score_of(found.get(member, Parts()), factors), member)
                     for member in names), key=lambda pair: (-pair[0], pair[1]))
    ranks, previous = [], None
    for position, (score, _) in enumerate(ranked, start=1):
        if score != previous:  # ties share a rank: 1, 1, 3
            rank, previous = position, score
        ranks.append(rank)
    first = 0
    if cursor:
        last = _after(cursor)
        first = next((i for i, (score, member) in enumerate(ranked)
                      if (-score, member) > last), len(ranked))
    page = ranked[first:first + limit]
    items = [{"rank": ranks[first + i], "name": names[member], "score": score,
              "grade": grade(score, limits)} for i, (score, member) in enumerate(page)]
    more = first + limit < len(ranked)
    next_cursor = encode_cursor([str(page[-1][0]), page[-1][1]]) if more else None
    return {"community": {"id": community.id, "name": community.name}, "year": year,
            "quarter": quarter, "as_of": min(now, end).astimezone(UTC), "complete": end <= now,
            "members": len(ranked), "items": items, "next_cursor": next_cursor}
