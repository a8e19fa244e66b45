"""Console lists that export but do not import: incidents, wishes, users, bookings. Each reads
through the same query service or rules as the API, so a role sees in the sheet exactly the
rows (and the fields) it sees on the page:

- incidents: `incidents.queries.list_incidents(scope="compound")` page by page; a report
  whose description the viewer may not read shows none, an anonymous reporter no name.
- wishes: `wishes.queries.list_wishes(scope="compound")`; names only in the full view.
- users: the residents of the buildings the user manages (grid worker, secretary, staff),
  with their verified address and phone.
- bookings: the bookings of the week's meals at the canteens the user runs (menus roles);
  no pickup codes, no delivery addresses.
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from app import timeutil
from app.extensions import db
from app.models import (
    Booking,
    Building,
    Canteen,
    Compound,
    DinerProfile,
    Household,
    IncidentStatus,
    Meal,
    RoleGrant,
    User,
    WishStatus,
)
from app.services.canteen import access as canteen_access
from app.services.canteen import eligibility
from app.services.excel import scope
from app.services.excel.kinds import Column, Ctx, Kind
from app.services.incidents import queries as incident_queries
from app.services.pagination import pages
from app.services.permissions import has_role
from app.services.visits.access import MANAGING_ROLES
from app.services.wishes import queries as wish_queries

PAGE = 1000


def _columns(*names: str) -> tuple[Column, ...]:
    return tuple(Column(name, f"c{i}", readonly=True) for i, name in enumerate(names))


class ListKind(Kind):
    importable = False
    HEADER: tuple[str, ...] = ()

    def columns(self, ctx: Ctx):
        return _columns(*self.HEADER)

    def current(self, ctx: Ctx):
        for values in self.rows(ctx):
            yield {f"c{i}": v for i, v in enumerate(values)}

    def rows(self, ctx: Ctx):  # pragma: no cover - abstract
        raise NotImplementedError


class Incidents(ListKind):
    name, title = "incidents", "随手拍"
    HEADER = ("编号", "小区", "楼栋", "类别", "内容", "状态", "上报人", "处理人", "处理部门",
              "上报时间", "响应期限", "办结期限", "办结时间", "评价")
    STATUSES = tuple(s.value for s in IncidentStatus)

    def context(self, user, filters: dict, writing: bool) -> Ctx:
        return Ctx(user, None, filters)

    def rows(self, ctx: Ctx):
        for row, full in pages(lambda cursor: incident_queries.list_incidents(
                ctx.user, "compound", cursor, PAGE, status=ctx.filters.get("status"),
                compound_id=ctx.filters.get("compound_id"))):
            yield (row["id"], row["compound_name"], row["building_name"],
                   row["category_name"], row["description"] if full else None,
                   IncidentStatus(row["status"]).label,
                   None if row["anonymous"] or not full else row["reporter_name"],
                   row["assignee_name"], row["department_name"], row["created_at"],
                   row["respond_by"], row["resolve_by"], row["resolved_at"], row["rating"])


class Wishes(ListKind):
    name, title = "wishes", "微心愿"
    HEADER = ("编号", "小区", "楼栋", "标题", "类别", "状态", "心愿人", "认领人", "提交时间",
              "完成时间")
    STATUSES = tuple(s.value for s in WishStatus)

    def context(self, user, filters: dict, writing: bool) -> Ctx:
        return Ctx(user, None, filters)

    def rows(self, ctx: Ctx):
        for view in pages(lambda cursor: wish_queries.list_wishes(
                ctx.user, "compound", cursor, PAGE, status=ctx.filters.get("status"),
                compound_id=ctx.filters.get("compound_id"))):
            row = view.row
            yield (row["id"], row["compound_name"], row["building_name"], row["title"],
                   _label(row["category"]), _label(row["status"]),
                   row["requester_name"] if view.full else None,
                   row["claimer_name"] if view.full else None, row["created_at"],
                   row["completed_at"])


class Users(ListKind):
    name, title = "users", "居民用户"
    HEADER = ("用户编号", "昵称", "小区", "楼栋", "单元", "房号", "手机号", "角色", "注册时间")

    def context(self, user, filters: dict, writing: bool) -> Ctx:
        community = scope.community_for(user, filters.get("community_id"), MANAGING_ROLES)
        ctx = Ctx(user, community, filters, private=True)
        ctx.lookups["mine"] = [b.id for b in scope.buildings(community.id).values()
                               if has_role(user, MANAGING_ROLES, b)]
        return ctx

    def rows(self, ctx: Ctx):
        if not ctx.lookups["mine"]:
            return
        query = (sa.select(User.id, User.nickname, Compound.name, Building.name,
                           Household.unit, Household.room, User.phone, User.created_at)
                 .join(Household, Household.id == User.household_id)
                 .join(Building, Building.id == Household.building_id)
                 .join(Compound, Compound.id == Building.compound_id)
                 .where(Building.id.in_(ctx.lookups["mine"])))
        if ctx.filters.get("compound_id"):
            query = query.where(Compound.id == ctx.filters["compound_id"])
        after = 0
        while True:
            batch = db.session.execute(query.where(User.id > after).order_by(User.id)
                                       .limit(PAGE)).all()
            if not batch:
                return
            after = batch[-1][0]
            roles: dict[int, set[str]] = {}
            for user_id, role in db.session.execute(sa.select(
                    RoleGrant.user_id, RoleGrant.role).where(
                    RoleGrant.user_id.in_([r[0] for r in batch]))):
                roles.setdefault(user_id, set()).add(_label(role))
            for uid, nickname, compound, building, unit, room, phone, created in batch:
                yield (uid, nickname, compound, building, unit, room, phone,
                       "、".join(sorted(roles.get(uid, ()))), created)


class Bookings(ListKind):
    name, title = "bookings", "订餐记录"
    HEADER = ("日期", "餐次", "食堂", "用餐人", "份数", "档位", "单价（元）", "补贴（元）",
              "应付（元）", "支付方式", "送餐上门", "状态", "下单时间", "取餐时间")

    def context(self, user, filters: dict, writing: bool) -> Ctx:
        community = scope.community_for(user, filters.get("community_id"),
                                        canteen_access.MENU_ROLES)
        ctx = Ctx(user, community, filters, private=True)
        ctx.lookups["canteens"] = {c.id: c.name for c in db.session.scalars(
            sa.select(Canteen).where(Canteen.community_id == community.id))
            if has_role(user, canteen_access.MENU_ROLES, c)
            and ctx.filters.get("canteen_id") in (None, c.id)}
        return ctx

    def rows(self, ctx: Ctx):
        canteens = ctx.lookups["canteens"]
        if not canteens:
            return
        day = ctx.filters.get("week") or timeutil.today()
        monday = day - timedelta(days=day.weekday())
        tiers = eligibility.tier_names()
        query = (sa.select(Booking, Meal.kind, DinerProfile.name)
                 .join(Meal, Meal.id == Booking.meal_id)
                 .join(DinerProfile, DinerProfile.id == Booking.diner_id)
                 .where(Booking.canteen_id.in_(canteens), Booking.day >= monday,
                        Booking.day < monday + timedelta(days=7)))
        after = 0
        while True:
            batch = db.session.execute(query.where(Booking.id > after).order_by(Booking.id)
                                       .limit(PAGE)).all()
            if not batch:
                return
            after = batch[-1][0].id
            for booking, kind, diner in batch:
                yield (booking.day, kind.label, canteens[booking.canteen_id], diner,
                       booking.quantity, tiers.get(booking.tier, booking.tier),
                       _yuan(booking.unit_price_fen), _yuan(booking.subsidy_fen),
                       _yuan(booking.amount_fen), booking.pay_with.label,
                       "是" if booking.delivery else "否", booking.state.label,
                       booking.created_at, booking.checked_in_at)
            db.session.expunge_all()  # a long export keeps no rows in the identity map


def _label(value) -> str | None:
    return None if value is None else getattr(value, "label", str(value))


def _yuan(fen: int | None) -> Decimal | None:
    return None if fen is None else Decimal(fen) / 100
