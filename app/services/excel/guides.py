"""The 办事指南 catalog of a community (app.services.guides.catalog): 标题 is the natural key;
同义问法 (separated by "；"), 答复, 所需材料, 办理时间, 办理地点, 负责部门, 更新日期 and 状态
(在用 / 已下线). The community's staff import and export (admin anywhere), as through the API.
After a commit that wrote something the matcher's cached models are dropped."""
from __future__ import annotations

import sqlalchemy as sa

from app import timeutil
from app.extensions import db
from app.models import GuideEntry, Role
from app.models.bot import ANSWER_MAX, TITLE_MAX
from app.services.excel import scope
from app.services.excel.kinds import Column, Ctx, Kind
from app.services.guides import catalog, matching

STATES = ("在用", "已下线")


class Guides(Kind):
    name, title = "guides", "办事指南"
    COLUMNS = (
        Column("标题", "title", required=True, key=True, max_len=TITLE_MAX),
        Column("同义问法", "synonyms", type="list", max_len=2000,
               note="居民常用的其他问法，多个用“；”分隔"),
        Column("答复", "answer", required=True, max_len=ANSWER_MAX),
        Column("所需材料", "materials", max_len=1000),
        Column("办理时间", "hours", max_len=120),
        Column("办理地点", "place", max_len=120),
        Column("负责部门", "department", max_len=60),
        Column("更新日期", "updated_on", type="date", note="信息核实日期，默认今天"),
        Column("状态", "state", type="choice", choices=STATES, max_len=8, note="默认：在用"),
    )

    def context(self, user, filters: dict, writing: bool) -> Ctx:
        community = scope.community_for(user, filters.get("community_id"), (Role.STAFF,))
        return Ctx(user, community, filters, private=True)

    def current(self, ctx: Ctx):
        for entry in db.session.scalars(sa.select(GuideEntry).where(
                GuideEntry.community_id == ctx.community.id).order_by(GuideEntry.id)):
            yield _values(entry)

    def check(self, ctx: Ctx, row: dict):
        if len(row["title"]) < 2:
            return "标题", "至少 2 个字"
        synonyms = [s for s in row.get("synonyms") or () if s != row["title"]]
        if len(synonyms) > catalog.SYNONYMS_MAX:
            return "同义问法", f"最多 {catalog.SYNONYMS_MAX} 条"
        if any(not 2 <= len(s) <= TITLE_MAX for s in synonyms):
            return "同义问法", f"每条 2 到 {TITLE_MAX} 个字"
        row["synonyms"] = tuple(synonyms) if "synonyms" in row else row.get("synonyms")
        if len(row["answer"]) < 2:
            return "答复", "至少 2 个字"
        return None

    def existing(self, ctx: Ctx, row: dict):
        entry = db.session.scalar(sa.select(GuideEntry).where(
            GuideEntry.community_id == ctx.community.id, GuideEntry.title == row["title"]))
        return None if entry is None else {"record": entry, **_values(entry)}

    def compare(self, ctx: Ctx, old: dict, row: dict) -> bool:
        row = {**row, "state": row.get("state") or STATES[0]} if "state" in row else row
        if "updated_on" in row and row["updated_on"] is None:
            row = {k: v for k, v in row.items() if k != "updated_on"}  # keeps the old date
        return super().compare(ctx, old, row)

    def write(self, ctx: Ctx, row: dict, old) -> None:
        entry = old["record"] if old else GuideEntry(
            community_id=ctx.community.id, created_by_id=ctx.user.id, title=row["title"],
            synonyms=[], updated_on=timeutil.today())
        if old is None:
            db.session.add(entry)
        for name in ("answer", "materials", "hours", "place", "department"):
            if name in row:
                setattr(entry, name, row[name])
        if "synonyms" in row:
            entry.synonyms = list(row["synonyms"] or ())
        if row.get("updated_on"):
            entry.updated_on = row["updated_on"]
        elif old is not None:
            entry.updated_on = timeutil.today()  # changed now, checked now
        if "state" in row:
            entry.active = (row["state"] or STATES[0]) == STATES[0]
        elif old is None:
            entry.active = True

    def after(self, ctx: Ctx) -> None:
        matching.forget()


def _values(entry: GuideEntry) -> dict:
    return {"title": entry.title, "synonyms": tuple(entry.synonyms or ()),
            "answer": entry.answer, "materials": entry.materials, "hours": entry.hours,
            "place": entry.place, "department": entry.department,
            "updated_on": entry.updated_on, "state": STATES[0] if entry.active else STATES[1]}


KIND = Guides()
