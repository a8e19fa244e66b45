"""The 办事指南 catalog (app.services.guides.catalog) and the 爱心积分超市's rewards
(app.services.points.rewards), for the community's staff (admin anywhere): list, create,
edit (version-checked), retire. Forms are read through the API's own marshmallow schemas,
so the console accepts exactly what the API accepts. Every write is audited."""
from __future__ import annotations

import re

from flask import g, redirect, render_template, request, url_for

from app import timeutil
from app.console import audit
from app.console.edits import checked, chosen_community, created, load, saved, text, version
from app.console.web import bp
from app.errors import NotFound
from app.extensions import db
from app.models import GuideEntry, Reward, Role
from app.schemas.guides import GuideEntryInput, GuideEntryUpdate
from app.schemas.rewards import RewardCreateSchema, RewardUpdateSchema
from app.services import orgtree
from app.services.guides import catalog
from app.services.permissions import has_role
from app.services.points import rewards

PAGE = 50
GUIDE_FIELDS = catalog.FIELDS + ("active", "version")
GUIDE_LABELS = {"title": "标题", "synonyms": "同义问法", "answer": "答复", "materials": "所需材料",
                "hours": "办理时间", "place": "办理地点", "department": "负责部门",
                "updated_on": "更新日期", "community_id": "社区"}
REWARD_FIELDS = ("name", "description", "cost", "stock", "per_user_limit", "starts_at",
                 "ends_at", "pickup_place", "active", "version")
REWARD_LABELS = {"name": "名称", "description": "说明", "cost": "所需积分", "stock": "库存",
                 "per_user_limit": "每人限兑", "starts_at": "开始时间", "ends_at": "结束时间",
                 "pickup_place": "领取地点", "active": "上架", "community_id": "社区"}
NUMBER = re.compile(r"^-?\d{1,12}$")


def _cursor() -> str | None:
    return request.args.get("cursor") or None


# --- 办事指南 -------------------------------------------------------------------------------

@bp.get("/guides")
def guides():
    """The 办事指南 catalog of my community, retired entries included"""
    user = g.console_user
    communities = orgtree.staff_communities(user)
    community_id = chosen_community(communities)
    page = None if community_id is None else catalog.list_entries(
        user, community_id, _cursor(), PAGE, include_inactive=True)
    return render_template("console/guides.html", communities=communities, page=page,
                           community_id=community_id)


def _guide_form() -> dict:
    synonyms = [s.strip() for s in re.split(r"[\n；;]", request.form.get("synonyms", ""))
                if s.strip()]
    data = {name: text(name) for name in ("title", "answer", "materials", "hours", "place",
                                          "department", "updated_on")}
    return {**{k: v for k, v in data.items() if v is not None}, "synonyms": synonyms}


@bp.post("/guides")
def create_guide():
    """Create a 办事指南 entry"""
    user = g.console_user
    communities = orgtree.staff_communities(user)
    values = load(GuideEntryInput(), _guide_form(), GUIDE_LABELS)
    values["community_id"] = chosen_community(communities)
    entry = created(user, "guide_create", GUIDE_FIELDS,
                    lambda: catalog.create_entry(user, values))
    return redirect(url_for("console.guides", community=entry.community_id))


def _guide_page(entry_id: int) -> str:
    user = g.console_user
    entry = catalog.get_entry(user, entry_id)
    if not catalog.may_edit(user, entry.community_id):  # only its staff edit it here
        raise NotFound("办事指南不存在", code="guide_not_found")
    return render_template("console/guide.html", entry=entry)


@bp.get("/guides/<int:entry_id>")
def guide(entry_id: int):
    """One 办事指南 entry, to edit"""
    return _guide_page(entry_id)


@bp.post("/guides/<int:entry_id>")
def edit_guide(entry_id: int):
    """Save a 办事指南 entry (version-checked)"""
    user, submitted = g.console_user, version()
    values = load(GuideEntryUpdate(), _guide_form(), GUIDE_LABELS)
    work = checked(GuideEntry, entry_id, submitted,
                   lambda: catalog.update_entry(user, entry_id, values))
    stale = saved(lambda: audit.audited(user.id, "guide_update", GuideEntry, entry_id,
                                        GUIDE_FIELDS, work),
                  lambda: _guide_page(entry_id), "办事指南已保存")
    return stale or redirect(url_for("console.guide", entry_id=entry_id))


@bp.post("/guides/<int:entry_id>/retire")
def retire_guide(entry_id: int):
    """Retire a 办事指南 entry (the bot stops answering with it; version-checked)"""
    user, submitted = g.console_user, version()

    def retire():
        catalog.delete_entry(user, entry_id)
        return db.session.get(GuideEntry, entry_id)

    stale = saved(lambda: audit.audited(user.id, "guide_retire", GuideEntry, entry_id,
                                        GUIDE_FIELDS, checked(GuideEntry, entry_id, submitted,
                                                              retire)),
                  lambda: _guide_page(entry_id), "办事指南已下线")
    return stale or redirect(url_for("console.guide", entry_id=entry_id))


# --- rewards -----------------------------------------------------------------------------

@bp.get("/rewards")
def rewards_page():
    """The rewards of my community's 积分超市, off-sale ones included"""
    user = g.console_user
    communities = orgtree.staff_communities(user)
    community_id = chosen_community(communities)
    page = None if community_id is None else rewards.list_rewards(
        user, community_id, True, _cursor(), PAGE)
    return render_template("console/rewards.html", communities=communities, page=page,
                           community_id=community_id)


def _moment(name: str) -> str | None:
    """A datetime-local field read as Asia/Shanghai (the schema wants a time zone)."""
    value = text(name)
    if value and re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?", value):
        return value + "+08:00"
    return value


def _reward_form() -> dict:
    # Required text as typed (blank is the schema's error), optional text blank as None.
    data = {name: (request.form.get(name) or "").strip() for name in ("name", "pickup_place")}
    data["description"] = text("description")
    for name in ("cost", "stock", "per_user_limit"):
        raw = text(name)
        if raw is not None or name == "per_user_limit":
            data[name] = int(raw) if raw and NUMBER.match(raw) else raw
    data["starts_at"], data["ends_at"] = _moment("starts_at"), _moment("ends_at")
    data["active"] = request.form.get("active") == "1"
    return data


@bp.post("/rewards")
def create_reward():
    """Add a reward to my community's 积分超市"""
    user = g.console_user
    communities = orgtree.staff_communities(user)
    data = {**_reward_form(), "community_id": chosen_community(communities)}
    values = load(RewardCreateSchema(), data, REWARD_LABELS)
    reward = created(user, "reward_create", REWARD_FIELDS,
                     lambda: rewards.create_reward(user, values))
    return redirect(url_for("console.rewards_page", community=reward.community_id))


def _reward_page(reward_id: int) -> str:
    user = g.console_user
    reward = db.session.get(Reward, reward_id)
    if reward is None or not has_role(user, Role.STAFF, reward):  # update_reward's rule
        raise NotFound("奖品不存在", code="reward_not_found")
    local = {name: timeutil.local(getattr(reward, name)).strftime("%Y-%m-%dT%H:%M")
             if getattr(reward, name) else "" for name in ("starts_at", "ends_at")}
    return render_template("console/reward.html", reward=reward, local=local)


@bp.get("/rewards/<int:reward_id>")
def reward(reward_id: int):
    """One reward, to edit its price, stock and window"""
    return _reward_page(reward_id)


@bp.post("/rewards/<int:reward_id>")
def edit_reward(reward_id: int):
    """Save a reward (version-checked)"""
    user, submitted = g.console_user, version()
    values = load(RewardUpdateSchema(), _reward_form(), REWARD_LABELS)
    work = checked(Reward, reward_id, submitted,
                   lambda: rewards.update_reward(user, reward_id, values))
    stale = saved(lambda: audit.audited(user.id, "reward_update", Reward, reward_id,
                                        REWARD_FIELDS, work),
                  lambda: _reward_page(reward_id), "奖品已保存")
    return stale or redirect(url_for("console.reward", reward_id=reward_id))
