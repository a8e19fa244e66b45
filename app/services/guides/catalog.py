"""The 办事指南 catalog: entries (title, synonyms, answer, materials, hours, place, owner
department, updated date) kept by a community's staff (admin anywhere); anyone signed in
reads the active entries.

A title is unique in its community (409 `guide_title_taken`). Deleting deactivates (the
gap list keeps pointing at the entry); the bot answers from active entries only. Every
write drops the matcher's cached models in this process (others within its TTL). Staff
download the whole catalog as .xlsx (`export_workbook`).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app import timeutil
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import Community, GuideEntry, Role, ScopeKind, User
from app.services.guides import matching
from app.services.pagination import paginate
from app.services.permissions import authorize, has_role

FIELDS = ("title", "synonyms", "answer", "materials", "hours", "place", "department",
          "updated_on")
SYNONYMS_MAX = 30


def community_of(user: User) -> int | None:
    """The community a user lives in, else the first one they are staff of."""
    if user.household is not None:
        return user.household.building.compound.community_id
    for grant in user.grants:
        if grant.role is Role.STAFF and grant.scope_kind is ScopeKind.COMMUNITY:
            return grant.scope_id
    return None


def _community(community_id: int | None, user: User) -> Community:
    community_id = community_id if community_id is not None else community_of(user)
    community = db.session.get(Community, community_id) if community_id is not None else None
    if community is None:
        raise ValidationFailed("请指定社区", code="community_required",
                               errors={"community_id": ["请指定社区"]})
    return community


def may_edit(user: User, community_id: int) -> bool:
    community = db.session.get(Community, community_id)
    return community is not None and has_role(user, Role.STAFF, community)


def list_entries(user: User, community_id: int | None, cursor: str | None, limit: int,
                 include_inactive: bool = False) -> dict:
    community = _community(community_id, user)
    query = sa.select(GuideEntry).where(GuideEntry.community_id == community.id)
    if not (include_inactive and may_edit(user, community.id)):
        query = query.where(GuideEntry.active.is_(True))
    return paginate(query, GuideEntry.id, cursor, limit)


def get_entry(user: User | None, entry_id: int) -> GuideEntry:
    entry = db.session.get(GuideEntry, entry_id)
    if entry is None or not (entry.active or (user is not None and may_edit(user, entry.community_id))):
        raise NotFound("办事指南不存在", code="guide_not_found")
    return entry


def _clean(values: dict) -> dict:
    values = {k: v for k, v in values.items() if k in FIELDS}
    if values.get("updated_on") is None:
        values["updated_on"] = timeutil.today()
    if "synonyms" in values:
        seen, synonyms = set(), []
        for item in values["synonyms"] or []:
            if item not in seen and item != values.get("title"):
                seen.add(item)
                synonyms.append(item)
        if len(synonyms) > SYNONYMS_MAX:
            raise ValidationFailed(f"同义问法最多 {SYNONYMS_MAX} 条", code="validation_error",
                                   errors={"json": {"synonyms": [f"最多 {SYNONYMS_MAX} 条"]}})
        values["synonyms"] = synonyms
    return values


def _save(entry: GuideEntry) -> GuideEntry:
    with db.session.no_autoflush:
        twin = db.session.scalar(sa.select(GuideEntry.id).where(
            GuideEntry.community_id == entry.community_id, GuideEntry.title == entry.title,
            GuideEntry.id != (entry.id or 0)))
    if twin is not None:
        db.session.rollback()
        raise Conflict("本社区已有同名的办事指南", code="guide_title_taken")
    try:
        db.session.flush()
    except IntegrityError:  # the (community, title) unique index: a racing twin
        db.session.rollback()
        raise Conflict("本社区已有同名的办事指南", code="guide_title_taken") from None
    db.session.commit()
    matching.forget()
    return entry


def create_entry(user: User, values: dict) -> GuideEntry:
    community = _community(values.pop("community_id", None), user)
    authorize(user, Role.STAFF, community)
    values = _clean(values)
    entry = GuideEntry(community_id=community.id, created_by_id=user.id, active=True,
                       **{"synonyms": [], **values})
    db.session.add(entry)
    return _save(entry)


def update_entry(user: User, entry_id: int, values: dict) -> GuideEntry:
    entry = get_entry(user, entry_id)
    authorize(user, Role.STAFF, db.session.get(Community, entry.community_id))
    values = _clean(values)
    for key, value in values.items():
        setattr(entry, key, value)
    entry.active = True
    return _save(entry)


def delete_entry(user: User, entry_id: int) -> None:
    entry = get_entry(user, entry_id)
    authorize(user, Role.STAFF, db.session.get(Community, entry.community_id))
    entry.active = False
    _save(entry)


def entries_for(community_id: int | None) -> list[tuple[int, str, list]]:
    """(id, title, synonyms) of the active entries of a community (all communities when
    the follower's is not known)."""
    query = sa.select(GuideEntry.id, GuideEntry.title, GuideEntry.synonyms).where(
        GuideEntry.active.is_(True))
    if community_id is not None:
        query = query.where(GuideEntry.community_id == community_id)
    return [tuple(row) for row in db.session.execute(query.order_by(GuideEntry.id))]


def answer_text(entry: GuideEntry) -> str:
    """The entry as the bot says it."""
    parts = [f"【{entry.title}】", entry.answer.strip()]
    for label, value in (("所需材料", entry.materials), ("办理时间", entry.hours),
                         ("办理地点", entry.place), ("负责部门", entry.department)):
        if value:
            parts.append(f"{label}：{value.strip()}")
    parts.append(f"（信息更新于 {entry.updated_on:%Y年%m月%d日}）")
    return "\n".join(parts)


EXPORT_HEADER = ("标题", "同义问法", "答复", "所需材料", "办理时间", "办理地点", "负责部门", "更新日期",
                 "状态")


def export_workbook(user: User, community_id: int | None) -> tuple[bytes, str, str]:
    """The community's whole catalog as .xlsx (its staff): one row per entry, synonyms
    joined by "；" (cells are text: nothing typed becomes a formula)."""
    from app.services import spreadsheets

    community = _community(community_id, user)
    authorize(user, Role.STAFF, community)
    entries = db.session.scalars(sa.select(GuideEntry).where(
        GuideEntry.community_id == community.id).order_by(GuideEntry.id))
    rows = [(e.title, "；".join(e.synonyms or []), e.answer, e.materials, e.hours, e.place,
             e.department, e.updated_on.isoformat(), "在用" if e.active else "已下线")
            for e in entries]
    data = spreadsheets.workbook_bytes([spreadsheets.Sheet("办事指南", EXPORT_HEADER, rows)])
    return data, f"{community.name}办事指南.xlsx", f"guides-{community.id}.xlsx"
