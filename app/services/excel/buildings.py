"""Buildings of a community: 小区 and 楼栋 (the natural key), 网格, 纬度, 经度.

The community's staff import (a new building in an existing compound, or a building moved
to another grid or given its position); grid workers and secretaries export the buildings
they manage. Compounds and grids are not created here: a name not found in the community is
a row error."""
from __future__ import annotations

from decimal import Decimal

from app.extensions import db
from app.models import Building, Role
from app.services.excel import scope
from app.services.excel.kinds import Column, Ctx, Kind
from app.services.permissions import has_role

READERS = (Role.GRID_WORKER, Role.SECRETARY, Role.STAFF)


class Buildings(Kind):
    name, title = "buildings", "楼栋"

    def columns(self, ctx: Ctx):
        return (Column("小区", "compound", required=True, key=True, max_len=64),
                Column("楼栋", "building", required=True, key=True, max_len=32),
                Column("网格", "grid", type="choice", required=True, max_len=64,
                       choices=tuple(ctx.lookups["grids"])),
                Column("纬度", "lat", type="decimal", lo=Decimal(-90), hi=Decimal(90), places=6),
                Column("经度", "lng", type="decimal", lo=Decimal(-180), hi=Decimal(180),
                       places=6))

    def context(self, user, filters: dict, writing: bool) -> Ctx:
        roles = (Role.STAFF,) if writing else READERS
        community = scope.community_for(user, filters.get("community_id"), roles)
        ctx = Ctx(user, community, filters, private=True)
        ctx.lookups.update(grids=scope.grids(community.id),
                           compounds=scope.compounds(community.id),
                           buildings=scope.buildings(community.id), roles=roles)
        return ctx

    def current(self, ctx: Ctx):
        names = {g.id: name for name, g in ctx.lookups["grids"].items()}
        rows = sorted(ctx.lookups["buildings"].items(), key=lambda item: item[1].id)
        for (compound, name), building in rows:
            if ctx.filters.get("compound_id") not in (None, building.compound_id):
                continue
            if has_role(ctx.user, ctx.lookups["roles"], building):
                yield {"compound": compound, "building": name, "grid": names[building.grid_id],
                       "lat": _decimal(building.lat), "lng": _decimal(building.lng)}

    def check(self, ctx: Ctx, row: dict):
        compound = ctx.lookups["compounds"].get(row["compound"])
        if compound is None:
            return "小区", f"本社区没有“{row['compound']}”"
        if not has_role(ctx.user, Role.STAFF, compound):
            return "小区", "您无权修改该小区的楼栋"
        return None

    def existing(self, ctx: Ctx, row: dict):
        building = ctx.lookups["buildings"].get((row["compound"], row["building"]))
        if building is None:
            return None
        names = {g.id: name for name, g in ctx.lookups["grids"].items()}
        return {"record": building, "grid": names[building.grid_id],
                "lat": _decimal(building.lat), "lng": _decimal(building.lng)}

    def write(self, ctx: Ctx, row: dict, old) -> None:
        building = old["record"] if old else Building(
            compound_id=ctx.lookups["compounds"][row["compound"]].id, name=row["building"])
        if old is None:
            db.session.add(building)
        if "grid" in row:
            building.grid_id = ctx.lookups["grids"][row["grid"]].id
        for name in ("lat", "lng"):
            if name in row:
                setattr(building, name, float(row[name]) if row[name] is not None else None)


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(round(value, 6)))


KIND = Buildings()
