"""Weekly menus: the meals of a community's canteens (app.services.canteen.menus), one row per
meal. 食堂, 日期 and 餐次 are the natural key (among meals not cancelled); 菜品, 份数,
价格（元）, the local booking cutoff and pickup window are written through `create_meal` and
`update_meal`, so every rule of the API holds (no past days, cutoff before pickup, capacity
not below the portions booked, nothing after the cutoff): a refusal is that row's error.
New meals are drafts; 状态 is for the reader. The canteen staff and the community's staff
import and export (`access.MENU_ROLES`). Filters: `canteen_id`, `week` (any day of it;
default this week)."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from app import timeutil
from app.extensions import db
from app.models import Canteen, Meal, MealKind, MealState
from app.services.canteen import access
from app.services.canteen import menus as meals
from app.services.excel import scope
from app.services.excel.kinds import Column, Ctx, Kind
from app.services.permissions import has_role

KINDS = {k.label: k for k in MealKind}


class Menus(Kind):
    name, title = "menus", "每周菜单"

    def columns(self, ctx: Ctx):
        return (
            Column("食堂", "canteen", type="choice", required=True, key=True, max_len=64,
                   choices=tuple(ctx.lookups["canteens"])),
            Column("日期", "day", type="date", required=True, key=True),
            Column("餐次", "kind", type="choice", required=True, key=True, max_len=4,
                   choices=tuple(KINDS)),
            Column("菜品", "dishes", type="list", required=True, max_len=500,
                   note="多个菜品用“；”分隔，按上菜顺序"),
            Column("份数", "capacity", type="int", required=True, lo=1, hi=10000),
            Column("价格（元）", "price", type="decimal", required=True, lo=Decimal(0),
                   hi=Decimal(1000), places=2),
            Column("截止日期", "cutoff_date", type="date", note="默认：用餐当天"),
            Column("截止时间", "cutoff_time", type="time", required=True, note="如 09:30"),
            Column("取餐开始", "pickup_start", type="time", required=True, note="如 11:30"),
            Column("取餐结束", "pickup_end", type="time", required=True, note="如 12:30"),
            Column("状态", "state", readonly=True))

    def context(self, user, filters: dict, writing: bool) -> Ctx:
        community = scope.community_for(user, filters.get("community_id"), access.MENU_ROLES)
        canteens = {c.name: c for c in db.session.scalars(sa.select(Canteen).where(
            Canteen.community_id == community.id, Canteen.active.is_(True)).order_by(Canteen.id))
            if has_role(user, access.MENU_ROLES, c)}
        ctx = Ctx(user, community, filters, private=True)
        ctx.lookups["canteens"] = canteens
        return ctx

    def current(self, ctx: Ctx):
        day = ctx.filters.get("week") or timeutil.today()
        monday = day - timedelta(days=day.weekday())
        names = {c.id: name for name, c in ctx.lookups["canteens"].items()
                 if ctx.filters.get("canteen_id") in (None, c.id)}
        if not names:
            return
        for meal in db.session.scalars(sa.select(Meal).where(
                Meal.canteen_id.in_(names), Meal.day >= monday,
                Meal.day < monday + timedelta(days=7), Meal.state != MealState.CANCELLED)
                .order_by(Meal.day, Meal.canteen_id, Meal.kind)):
            yield _values(meal, names[meal.canteen_id])

    def existing(self, ctx: Ctx, row: dict):
        canteen = ctx.lookups["canteens"][row["canteen"]]
        meal = db.session.scalar(sa.select(Meal).where(
            Meal.canteen_id == canteen.id, Meal.day == row["day"],
            Meal.kind == KINDS[row["kind"]], Meal.state != MealState.CANCELLED))
        return None if meal is None else {"record": meal, **_values(meal, row["canteen"])}

    def compare(self, ctx: Ctx, old: dict, row: dict) -> bool:
        if row.get("cutoff_date") is None:
            row = {**row, "cutoff_date": row["day"]}
        return super().compare(ctx, old, row)

    def write(self, ctx: Ctx, row: dict, old) -> None:
        data = {name: row[name] for name in ("dishes", "capacity", *meals.TIMES) if name in row}
        data["dishes"] = list(data["dishes"])
        data["price_fen"] = int(row["price"] * 100)
        if old is None:
            canteen = ctx.lookups["canteens"][row["canteen"]]
            meals.create_meal(ctx.user, canteen.id, {
                **data, "day": row["day"], "kind": KINDS[row["kind"]]})
        else:
            if "cutoff_date" in data and data["cutoff_date"] is None:
                data["cutoff_date"] = row["day"]  # blank means the day itself, as on creation
            meals.update_meal(ctx.user, old["record"].id, data)


def _values(meal: Meal, canteen: str) -> dict:
    cutoff = timeutil.local(meal.cutoff_at)
    return {"canteen": canteen, "day": meal.day, "kind": meal.kind.label,
            "dishes": tuple(meal.dishes or ()), "capacity": meal.capacity,
            "price": Decimal(meal.price_fen) / 100, "cutoff_date": cutoff.date(),
            "cutoff_time": cutoff.time().replace(second=0, microsecond=0),
            "pickup_start": timeutil.local(meal.pickup_starts_at).time().replace(second=0),
            "pickup_end": timeutil.local(meal.pickup_ends_at).time().replace(second=0),
            "state": meal.state.label}


KIND = Menus()
