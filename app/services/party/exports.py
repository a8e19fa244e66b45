"""Staff's reports of a community's 双报到 members: the roster with each member's year
(.xlsx), and the employer roll-up (JSON and .xlsx): times and hours per employer unit
(工作单位) per quarter, for telling each unit how its members served.

Both are for the community's staff (and admin) only; another community's staff get 403, a
community that does not exist 404. They hold names, employers and skills, never phone
numbers: staff reach members through the mini-program, and a spreadsheet travels further
than the console.

A verified log counts in the quarter of its local check-in. In the roll-up a member's
logs go to the employer of their latest registration at this community (a member serves
with one employer while confirmed; a transfer away and back registers again), and the
units of members confirmed now appear even with nothing served yet. Employer names are
grouped after trimming and folding runs of spaces.
"""
from __future__ import annotations

import re
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy import orm

from app import timeutil
from app.extensions import db
from app.models import PartyRegistration, RegistrationStatus, ServiceLog, User
from app.services import spreadsheets
from app.services.party import progress, scores
from app.services.party.registrations import staff_community

QUARTERS = (1, 2, 3, 4)
QUARTER_NAMES = {1: "一季度", 2: "二季度", 3: "三季度", 4: "四季度"}
BATCH = 1000
ZERO = Decimal("0.0")
UNKNOWN_EMPLOYER = "（未登记单位）"


def _year(year: int | None) -> int:
    return year or timeutil.today().year


def _employer(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip()


def _yes(flag: bool) -> str:
    return "是" if flag else "否"


# --- the roster -------------------------------------------------------------------------

ROSTER_HEADER = ("序号", "姓名", "工作单位", "特长", "报到时间", "服务次数", "服务时长（小时）",
                 "次数达标", "时长达标", "完成微心愿", "积分调整", "党员积分", "等级")


def roster_rows(community_id: int, year: int):
    """The roster's rows, in the order members registered (batches of BATCH)."""
    target_times, target_hours = progress.targets()
    factors, limits = scores.weights(), scores.thresholds()
    after, number = 0, 0
    while True:
        batch = list(db.session.scalars(
            sa.select(PartyRegistration).where(
                PartyRegistration.community_id == community_id,
                PartyRegistration.status == RegistrationStatus.CONFIRMED,
                PartyRegistration.id > after)
            .options(orm.selectinload(PartyRegistration.user))
            .order_by(PartyRegistration.id).limit(BATCH)))
        if not batch:
            return
        after = batch[-1].id
        found = scores.parts([r.user_id for r in batch], year)
        for registration in batch:
            number += 1
            parts = found.get(registration.user_id, scores.Parts())
            line = scores.summary(parts, factors, limits)
            yield (number, registration.user.nickname, registration.employer,
                   registration.skills, registration.decided_at, parts.times, parts.hours,
                   _yes(parts.times >= target_times), _yes(parts.hours >= target_hours),
                   parts.wishes, parts.items, line["score"], line["grade"]["name"])


def roster_workbook(user: User, community_id: int, year: int | None) -> tuple[bytes, str, str]:
    """The roster of a community's confirmed members with the year's times and hours
    against the bar, 党员积分 and grade, as .xlsx: (bytes, filename, ASCII filename)."""
    community = staff_community(user, community_id)
    year = _year(year)
    sheet = spreadsheets.Sheet(f"{year}年花名册", ROSTER_HEADER,
                               list(roster_rows(community.id, year)))
    return (spreadsheets.workbook_bytes([sheet]), f"{community.name}双报到党员花名册{year}.xlsx",
            f"party-roster-{community.id}-{year}.xlsx")


# --- the employer roll-up ---------------------------------------------------------------

def _served(community_id: int, year: int) -> dict[int, list[tuple[int, Decimal]]]:
    """{member: [(times, hours) per quarter]} of the verified logs at a community in a
    year: one grouped query, one conditional count and sum per quarter."""
    start, end = scores.year_bounds(year)
    columns = []
    for quarter in QUARTERS:
        q_start, q_end = scores.quarter_bounds(year, quarter)
        inside = sa.and_(ServiceLog.check_in_at >= q_start, ServiceLog.check_in_at < q_end)
        columns += [sa.func.count(sa.case((inside, ServiceLog.id))),
                    sa.func.sum(sa.case((inside, ServiceLog.hours)))]
    rows = db.session.execute(
        sa.select(ServiceLog.member_id, *columns)
        .where(ServiceLog.community_id == community_id, ServiceLog.verified_at.is_not(None),
               ServiceLog.check_in_at >= start, ServiceLog.check_in_at < end)
        .group_by(ServiceLog.member_id))
    return {row[0]: [(row[1 + 2 * i], Decimal(str(row[2 + 2 * i] or 0)).quantize(ZERO))
                     for i in range(len(QUARTERS))] for row in rows}


def _employers(community_id: int, served: set[int]) -> dict[int, str]:
    """{member: employer} from each member's latest registration at the community, for the
    members confirmed there now and those who served there."""
    query = sa.select(PartyRegistration.user_id, PartyRegistration.employer).where(
        PartyRegistration.community_id == community_id,
        sa.or_(PartyRegistration.status == RegistrationStatus.CONFIRMED,
               sa.and_(PartyRegistration.status == RegistrationStatus.ENDED,
                       PartyRegistration.user_id.in_(served)) if served else sa.false()))
    return {member: _employer(name) for member, name in db.session.execute(
        query.order_by(PartyRegistration.id))}  # later registrations overwrite earlier


def employer_rollup(user: User, community_id: int, year: int | None) -> dict:
    """Times and hours per employer unit per quarter of a year at a community, with the
    number of members counted for each unit; most hours first. Reads only."""
    community = staff_community(user, community_id)
    year = _year(year)
    served = _served(community.id, year)
    employers = _employers(community.id, set(served))
    for member in served.keys() - employers.keys():  # no registration found: still counted
        employers[member] = UNKNOWN_EMPLOYER
    units: dict[str, dict] = {}
    for member, employer in employers.items():
        unit = units.setdefault(employer, {"employer": employer, "members": 0,
                                           "quarters": [[0, ZERO] for _ in QUARTERS]})
        unit["members"] += 1
        for i, (times, hours) in enumerate(served.get(member, ())):
            unit["quarters"][i][0] += times
            unit["quarters"][i][1] += hours
    items = [_unit_item(unit) for unit in units.values()]
    items.sort(key=lambda item: (-item["hours"], -item["times"], item["employer"]))
    total = {"employer": "合计", "members": sum(u["members"] for u in units.values()),
             "quarters": [[sum(u["quarters"][i][0] for u in units.values()),
                           sum((u["quarters"][i][1] for u in units.values()), ZERO)]
                          for i in range(len(QUARTERS))]}
    return {"community": {"id": community.id, "name": community.name}, "year": year,
            "items": items, "total": _unit_item(total)}


def _unit_item(unit: dict) -> dict:
    quarters = [{"quarter": q, "times": t, "hours": h}
                for q, (t, h) in zip(QUARTERS, unit["quarters"], strict=True)]
    return {"employer": unit["employer"], "members": unit["members"], "quarters": quarters,
            "times": sum(q["times"] for q in quarters),
            "hours": sum((q["hours"] for q in quarters), ZERO)}


def employer_workbook(user: User, community_id: int, year: int | None) -> tuple[bytes, str, str]:
    """The roll-up as .xlsx, one row per unit and a total row: (bytes, filename, ASCII name)."""
    rollup = employer_rollup(user, community_id, year)
    header = ["工作单位", "报到党员"]
    for quarter in QUARTERS:
        header += [f"{QUARTER_NAMES[quarter]}次数", f"{QUARTER_NAMES[quarter]}时长（小时）"]
    header += ["全年次数", "全年时长（小时）"]

    def row(item: dict) -> list:
        values = [item["employer"], item["members"]]
        for quarter in item["quarters"]:
            values += [quarter["times"], quarter["hours"]]
        return values + [item["times"], item["hours"]]

    year, community = rollup["year"], rollup["community"]
    sheet = spreadsheets.Sheet(f"{year}年单位汇总", header,
                               [row(item) for item in rollup["items"]] + [row(rollup["total"])])
    return (spreadsheets.workbook_bytes([sheet]),
            f"{community['name']}双报到单位汇总{year}.xlsx",
            f"party-employers-{community['id']}-{year}.xlsx")

