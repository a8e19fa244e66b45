"""A member's year against the bar (大同: serve at the home community at least
PARTY_YEARLY_TIMES times and PARTY_YEARLY_HOURS hours a year), and the October / December
reminder to those behind the pro-rata pace.

Only verified logs count: a log flagged for a missing check-out counts once staff verify
it. The year is the Asia/Shanghai calendar year, in which a log's check-in falls.
"""
from __future__ import annotations

import functools
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm

from app import fastread, timeutil
from app.errors import Forbidden, NotFound
from app.extensions import db
from app.models import (
    Community,
    PartyRegistration,
    RegistrationStatus,
    Role,
    ServiceLog,
    ServicePost,
    ServiceSignup,
    User,
)
from app.models.base import UTCDateTime, utcnow
from app.services.notifications.outbox import notify
from app.services.pagination import page_from_rows, page_params, page_query, paginate
from app.services.permissions import Viewer, has_role

BATCH = 1000


def year_bounds(year: int) -> timeutil.Bounds:
    return timeutil.at_local(date(year, 1, 1)), timeutil.at_local(date(year + 1, 1, 1))


def totals(member_ids: list[int], year: int) -> dict[int, tuple[int, Decimal]]:
    """{member: (times, hours)} of verified logs in a local year (one query)."""
    start, end = year_bounds(year)
    rows = db.session.execute(
        sa.select(ServiceLog.member_id, sa.func.count(), sa.func.sum(ServiceLog.hours))
        .where(ServiceLog.member_id.in_(member_ids), ServiceLog.verified_at.is_not(None),
               ServiceLog.check_in_at >= start, ServiceLog.check_in_at < end)
        .group_by(ServiceLog.member_id))
    return {member: (times, Decimal(str(hours or 0)).quantize(Decimal("0.1")))
            for member, times, hours in rows}


def targets() -> tuple[int, Decimal]:
    return (current_app.config["PARTY_YEARLY_TIMES"],
            Decimal(str(current_app.config["PARTY_YEARLY_HOURS"])))


def me(user: Viewer, cursor: str | None, limit: int) -> dict:
    """My registrations, this year's times and hours against the bar, the posts I signed up
    for that have not ended, and my logs (keyset, newest first). Reads only: dicts from
    three statements built once (`_mine`, `_history`), each with the names it shows, read
    in one round trip."""
    if not has_role(user, Role.PARTY_MEMBER):
        raise Forbidden("只有党员可以查看", code="not_party_member")
    year = timeutil.today().year
    start, end = year_bounds(year)
    head, signups, history = fastread.rows_together(
        (_mine("head"), {"member": user.id, "start": start, "end": end}),
        (_mine("signups"), {"member": user.id, "now": utcnow()}),
        (_history(bool(cursor), limit), page_params(cursor, {"member": user.id})))
    times = head[0]["times"]
    hours = Decimal(str(head[0]["total"] or 0)).quantize(Decimal("0.1"))
    target_times, target_hours = targets()
    return {"year": year, "times": times, "hours": hours, "target_times": target_times,
            "target_hours": target_hours, "times_met": times >= target_times,
            "hours_met": hours >= target_hours,
            "registrations": [row for row in head if row["id"] is not None],
            "signups": signups, "history": page_from_rows(history, logs.c.id, limit)}


logs, posts_, signups_ = ServiceLog.__table__, ServicePost.__table__, ServiceSignup.__table__
registrations_, communities, users = (PartyRegistration.__table__, Community.__table__,
                                      User.__table__)


@functools.cache
def _mine(part: str) -> sa.Select:
    """`me()`'s statements over bound parameters, built once (SQLAlchemy caches the SQL of
    a statement object, and psycopg prepares a statement it sees again)."""
    member = sa.bindparam("member", type_=sa.Integer)
    if part == "head":
        # The year's totals (verified logs whose check-in falls in the local year) joined
        # to my registrations, newest first, each with its community's name and mine: one
        # statement, at least one row (the totals) even without a registration.
        totals = (sa.select(sa.func.count().label("times"), sa.func.sum(logs.c.hours).label("total"))
                  .where(logs.c.member_id == member, logs.c.verified_at.is_not(None),
                         logs.c.check_in_at >= sa.bindparam("start", type_=UTCDateTime),
                         logs.c.check_in_at < sa.bindparam("end", type_=UTCDateTime))
                  .subquery("totals"))
        mine = (sa.select(*registrations_.c["id", "user_id", "community_id", "employer",
                                             "skills", "status", "note", "decided_at",
                                             "ended_at", "created_at"],
                          communities.c.name.label("community_name"),
                          users.c.nickname.label("member_name"))
                .join(communities, communities.c.id == registrations_.c.community_id)
                .join(users, users.c.id == registrations_.c.user_id)
                .where(registrations_.c.user_id == member).subquery("mine"))
        return (sa.select(totals.c.times, totals.c.total, mine)
                .select_from(totals.outerjoin(mine, sa.true()))
                .order_by(mine.c.id.desc()).limit(20))
    # signups: the posts that have not ended, soonest first
    return (sa.select(*posts_.c["id", "community_id", "title", "category", "starts_at",
                                "ends_at", "place", "headcount", "signup_count", "created_at"])
            .join(signups_, signups_.c.post_id == posts_.c.id)
            .where(signups_.c.member_id == member,
                   posts_.c.ends_at > sa.bindparam("now", type_=UTCDateTime))
            .order_by(posts_.c.starts_at, posts_.c.id).limit(20))


@functools.lru_cache(maxsize=64)
def _history(paged: bool, limit: int) -> sa.Select:
    """A page of my logs, newest first, with the post's title (many-to-one, so the LIMIT
    still counts logs)."""
    return page_query(
        sa.select(*logs.c["id", "member_id", "community_id", "post_id", "source",
                          "check_in_at", "check_out_at", "hours", "flagged", "verified_at",
                          "note"], posts_.c.title.label("post_title"))
        .outerjoin(posts_, posts_.c.id == logs.c.post_id)
        .where(logs.c.member_id == sa.bindparam("member", type_=sa.Integer)),
        logs.c.id, paged, limit, descending=True)


def roster(user: User, community_id: int, year: int | None, cursor: str | None,
           limit: int) -> dict:
    """Staff's roster of the members confirmed at their community (in the order they were
    registered, keyset), each with the year's times and hours against the bar. Reads only."""
    community = db.session.get(Community, community_id)
    if community is None:
        raise NotFound("社区不存在", code="community_not_found")
    if not has_role(user, Role.STAFF, community):
        raise Forbidden()
    year = year or timeutil.today().year
    page = paginate(sa.select(PartyRegistration).where(
        PartyRegistration.community_id == community_id,
        PartyRegistration.status == RegistrationStatus.CONFIRMED)
        .options(orm.selectinload(PartyRegistration.user)), PartyRegistration.id, cursor, limit)
    done = totals([r.user_id for r in page["items"]], year) if page["items"] else {}
    target_times, target_hours = targets()
    items = []
    for registration in page["items"]:
        times, hours = done.get(registration.user_id, (0, Decimal("0.0")))
        items.append({"id": registration.id,
                      "member": {"id": registration.user_id,
                                 "name": registration.user.nickname},
                      "employer": registration.employer, "skills": registration.skills,
                      "registered_at": registration.decided_at, "year": year,
                      "times": times, "hours": hours, "times_met": times >= target_times,
                      "hours_met": hours >= target_hours})
    return {"items": items, "next_cursor": page["next_cursor"]}


def _elapsed(now: datetime) -> Decimal:
    """The share of the local year gone by at `now` (0..1)."""
    start, end = year_bounds(timeutil.local(now).year)
    return Decimal((now - start).total_seconds()) / Decimal((end - start).total_seconds())


def remind_behind(now: datetime | None = None) -> dict:
    """Tell each confirmed member behind the pro-rata pace (times or hours) how far they
    are; once per member and month (the job runs in October and December). Flushes."""
    now = now or utcnow()
    moment = timeutil.local(now)
    share = _elapsed(now)
    target_times, target_hours = targets()
    want_times, want_hours = Decimal(target_times) * share, target_hours * share
    told = checked = 0
    after = 0
    while True:
        members = list(db.session.scalars(
            sa.select(PartyRegistration.user_id).where(
                PartyRegistration.status == RegistrationStatus.CONFIRMED,
                PartyRegistration.user_id > after)
            .order_by(PartyRegistration.user_id).limit(BATCH)))
        if not members:
            break
        after = members[-1]
        done = totals(members, moment.year)
        for member in members:
            checked += 1
            times, hours = done.get(member, (0, Decimal("0.0")))
            if times >= want_times and hours >= want_hours:
                continue
            told += notify(member, "party_update", {
                "title": "党员服务进度提醒",
                "note": f"今年已服务 {times} 次、{hours} 小时，全年目标 {target_times} 次、"
                        f"{target_hours} 小时",
                "at": now.isoformat()},
                dedupe_key=f"party:pace:{member}:{moment.year}-{moment.month:02d}")
    return {"checked": checked, "reminded": told}
