"""The household roster a grid worker collects on paper: 小区, 楼栋, 单元, 房号 (the natural
key), 户主姓名, 户主电话 and 关爱标签.

Who: the household's grid worker, the compound's secretary and the community's staff read
and import it (app.services.visits.access.MANAGING_ROLES), each only for the buildings they
manage: a row for any other building (another grid, another community) is a row error.
Canteen staff, who keep diners by household, may export it without the private columns:
phones masked, no care tags. Care tags are written through app.services.visits.care."""
from __future__ import annotations

import re

import sqlalchemy as sa

from app.extensions import db
from app.models import Building, CareTag, Compound, Household, HouseholdTag, Role
from app.services.excel import scope
from app.services.excel.kinds import Column, Ctx, Kind
from app.services.permissions import has_role
from app.services.visits import care
from app.services.visits.access import MANAGING_ROLES

READERS = (*MANAGING_ROLES, Role.CANTEEN_STAFF)
PHONE = re.compile(r"^\+?[0-9][0-9 -]{5,18}[0-9]$")
BATCH = 2000
TAG_LABELS = tuple(t.label for t in CareTag)
TAG_BY_LABEL = {t.label: t for t in CareTag}


class Households(Kind):
    name, title = "households", "住户名册"
    BASE = (Column("小区", "compound", required=True, key=True, max_len=64),
            Column("楼栋", "building", required=True, key=True, max_len=32),
            Column("单元", "unit", required=True, key=True, max_len=16),
            Column("房号", "room", required=True, key=True, max_len=16),
            Column("户主姓名", "head_name", max_len=32))
    PHONE_COLUMN = Column("户主电话", "head_phone", max_len=20, private=True,
                          note="手机或座机号码")
    CARE_COLUMN = Column("关爱标签", "care_tags", type="list", choices=TAG_LABELS,
                         max_len=200, private=True, unordered=True,
                         note="多个标签用“；”分隔：" + "、".join(TAG_LABELS))

    def columns(self, ctx: Ctx):
        if ctx.private:
            return (*self.BASE, self.PHONE_COLUMN, self.CARE_COLUMN)
        masked = Column("户主电话", "head_phone", readonly=True, max_len=20)
        return (*self.BASE, masked)

    def context(self, user, filters: dict, writing: bool) -> Ctx:
        roles = MANAGING_ROLES if writing else READERS
        community = scope.community_for(user, filters.get("community_id"), roles)
        everything = scope.buildings(community.id)
        mine = {b.id for b in everything.values() if has_role(user, roles, b)}
        managed = {b.id for b in everything.values() if has_role(user, MANAGING_ROLES, b)}
        # Private columns only when every building in the sheet is one the user manages.
        ctx = Ctx(user, community, filters, private=bool(mine) and mine <= managed)
        ctx.lookups.update(buildings=everything, mine=mine)
        return ctx

    def current(self, ctx: Ctx):
        mine = ctx.lookups["mine"]
        if not mine:
            return
        query = (sa.select(Household.id, Compound.name, Building.name, Household.unit,
                           Household.room, Household.head_name, Household.head_phone)
                 .join(Building, Building.id == Household.building_id)
                 .join(Compound, Compound.id == Building.compound_id)
                 .where(Compound.community_id == ctx.community.id))
        if ctx.filters.get("compound_id"):
            query = query.where(Compound.id == ctx.filters["compound_id"])
        if ctx.filters.get("building_id"):
            query = query.where(Building.id == ctx.filters["building_id"])
        after = 0
        while True:
            batch = db.session.execute(query.where(Household.id > after)
                                       .order_by(Household.id).limit(BATCH)).all()
            if not batch:
                return
            after = batch[-1][0]
            tags: dict[int, list[str]] = {}
            if ctx.private:
                for household_id, tag in db.session.execute(sa.select(
                        HouseholdTag.household_id, HouseholdTag.tag).where(
                        HouseholdTag.household_id.in_([r[0] for r in batch]))):
                    tags.setdefault(household_id, []).append(tag.label)
            keys = ctx.lookups["buildings"]
            for hid, compound, building, unit, room, head, phone in batch:
                if keys[(compound, building)].id not in mine:
                    continue
                yield {"compound": compound, "building": building, "unit": unit, "room": room,
                       "head_name": head,
                       "head_phone": phone if ctx.private else scope.mask_phone(phone),
                       "care_tags": _ordered(tags.get(hid, []))}

    def check(self, ctx: Ctx, row: dict):
        building = ctx.lookups["buildings"].get((row["compound"], row["building"]))
        if building is None:
            return "楼栋", f"本社区没有“{row['compound']} {row['building']}”"
        if building.id not in ctx.lookups["mine"]:
            return "楼栋", "您无权导入该楼栋的住户（不在您负责的范围内）"
        phone = row.get("head_phone")
        if phone and not PHONE.match(phone):
            return "户主电话", "电话号码格式不正确"
        return None

    def existing(self, ctx: Ctx, row: dict):
        building = ctx.lookups["buildings"][(row["compound"], row["building"])]
        household = db.session.scalar(sa.select(Household).where(
            Household.building_id == building.id, Household.unit == row["unit"],
            Household.room == row["room"]))
        if household is None:
            return None
        return {"record": household, "head_name": household.head_name,
                "head_phone": household.head_phone,
                "care_tags": tuple(t.tag.label for t in household.tags)}

    def write(self, ctx: Ctx, row: dict, old) -> None:
        if old is None:
            building = ctx.lookups["buildings"][(row["compound"], row["building"])]
            household = Household(building_id=building.id, unit=row["unit"], room=row["room"])
            db.session.add(household)
        else:
            household = old["record"]
        for name in ("head_name", "head_phone"):
            if name in row:
                setattr(household, name, row[name])
        db.session.flush()
        if "care_tags" in row:
            care.set_care_tags(ctx.user, household.id,
                               [TAG_BY_LABEL[label].value for label in row["care_tags"] or ()])


def _ordered(labels: list[str]) -> tuple[str, ...]:
    return tuple(label for label in TAG_LABELS if label in labels)


KIND = Households()
