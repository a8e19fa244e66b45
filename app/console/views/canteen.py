"""社区食堂 for its staff: a canteen's week of meals (one row per day), planning a meal,
copying last week's menu, publishing, cancelling with a reason, each meal's kitchen sheet;
and the feedback box's held notes, released or hidden.

Every step is the API's service (app.services.canteen.menus, .kitchen, .feedback) with its
role and scope checks: the canteen staff and the community staff of the canteen's community
(`access.MENU_ROLES`, admin anywhere). Forms are read into the API's own schemas
(`MealCreateSchema`, `MealCancelSchema`), so the console accepts exactly what the API does.
Every write is audited (app.console.audit), in the service's transaction."""
from __future__ import annotations

import re
from datetime import date, timedelta

import sqlalchemy as sa
from flask import flash, g, redirect, render_template, request, url_for

from app import timeutil
from app.console import audit, edits
from app.console.web import bp
from app.errors import Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import CanteenFeedback, Meal, MealKind, Role, ScopeKind
from app.schemas.canteen import MealCancelSchema, MealCreateSchema
from app.services.canteen import access, feedback, kitchen, menus
from app.services.permissions import has_role

CANTEENS_MAX = 100
FEEDBACK_MAX = 100
MEAL_FIELDS = ("state", "capacity", "booked_count", "price_fen", "dishes", "cancel_reason",
               "published_at", "closed_at")
FIELD_NAMES = {"day": "日期", "kind": "餐别", "dishes": "菜品", "capacity": "份数",
               "price_fen": "价格", "cutoff_date": "截止日期", "cutoff_time": "截止时间",
               "pickup_start": "取餐开始", "pickup_end": "取餐结束", "reason": "原因",
               "note": "说明", "answer": "答复"}
PRICE = re.compile(r"^\d{1,4}(\.\d{1,2})?\Z")
DISH_SEPARATORS = re.compile(r"[\n\r,，、;；]+")


def runs_canteens(user) -> bool:
    """Whether the canteen pages are for the user at all (the API's menu roles, anywhere)."""
    return has_role(user, access.MENU_ROLES)


@bp.context_processor
def _nav():
    user = g.get("console_user")
    return {"nav_canteen": user is not None and runs_canteens(user)}


def my_canteens(user) -> list:
    """The open canteens of the communities the user runs canteens in (admin: all)."""
    if has_role(user, Role.ADMIN):
        return menus.list_canteens(user, None, None, CANTEENS_MAX)["items"]
    communities = sorted({g.scope_id for g in user.grants if g.role in access.MENU_ROLES
                          and g.scope_kind is ScopeKind.COMMUNITY})
    found = []
    for community_id in communities:
        found += menus.list_canteens(user, community_id, None, CANTEENS_MAX)["items"]
    return [c for c in found if access.runs_menus(user, c)]


def _chosen(user, canteens: list):
    """The canteen asked for (`?canteen_id=`), else the first; 403 for one not the user's."""
    raw = request.args.get("canteen_id", "")
    if not raw:
        return canteens[0] if canteens else None
    if not raw.isdigit() or len(raw) > 9:
        raise NotFound("食堂不存在", code="canteen_not_found")
    canteen = access.get_canteen(int(raw))
    if not access.runs_menus(user, canteen):
        raise Forbidden("只有本社区食堂和社区的工作人员可以管理该食堂")
    return canteen


def _monday(raw: str | None) -> date:
    day = edits.day(raw) or timeutil.today()
    return day - timedelta(days=day.weekday())


def _may(user, action: str, meal: Meal) -> bool:
    rule = access.MEAL_TRANSITIONS[action]
    return meal.state in rule.sources and rule.who(user, meal)


WEEKDAYS = "一二三四五六日"


@bp.get("/canteen")
def canteen():
    """A canteen's week of meals: plan, copy last week, publish, cancel"""
    user = g.console_user
    if not runs_canteens(user):
        raise Forbidden("只有食堂和社区的工作人员可以管理食堂")
    canteens = my_canteens(user)
    chosen = _chosen(user, canteens)
    monday = _monday(request.args.get("week"))
    days = []
    if chosen is not None:
        plan = menus.week_plan(user, chosen.id, monday)
        for offset in range(7):
            day = monday + timedelta(days=offset)
            days.append({"day": day, "weekday": WEEKDAYS[offset], "meals": [
                {"meal": m, "publish": _may(user, "publish", m),
                 "cancel": _may(user, "cancel", m)} for m in plan if m.day == day]})
    return render_template("console/canteen.html", canteens=canteens, chosen=chosen,
                           monday=monday, days=days, kinds=list(MealKind),
                           prev_week=monday - timedelta(days=7),
                           next_week=monday + timedelta(days=7), today=timeutil.today())


def _int_or_raw(raw: str):
    raw = raw.strip()
    return int(raw) if raw.isdigit() and len(raw) <= 9 else raw


def _fen(raw: str):
    raw = raw.strip()
    if not PRICE.match(raw):
        raise ValidationFailed("价格：请填写金额（元），最多两位小数", code="validation_error")
    yuan, _, cents = raw.partition(".")
    return int(yuan) * 100 + int((cents + "00")[:2])


def load(schema, data: dict) -> dict:
    return edits.load(schema, data, FIELD_NAMES)


def meal_form() -> dict:
    form = request.form
    data = {"day": form.get("day", "").strip(), "kind": form.get("kind", ""),
            "dishes": [d.strip() for d in DISH_SEPARATORS.split(form.get("dishes", ""))
                       if d.strip()],
            "capacity": _int_or_raw(form.get("capacity", "")),
            "price_fen": _fen(form.get("price", "")),
            "cutoff_time": form.get("cutoff_time", "").strip(),
            "pickup_start": form.get("pickup_start", "").strip(),
            "pickup_end": form.get("pickup_end", "").strip()}
    if form.get("cutoff_date", "").strip():
        data["cutoff_date"] = form["cutoff_date"].strip()
    return load(MealCreateSchema(), data)


def meal_after(meal: Meal) -> dict:
    return {**audit.snapshot(meal, MEAL_FIELDS), "day": meal.day.isoformat(),
            "kind": MealKind(meal.kind).value}  # a new row holds the form's code


def _week_of(canteen_id: int, day: date):
    return redirect(url_for("console.canteen", canteen_id=canteen_id,
                            week=(day - timedelta(days=day.weekday())).isoformat()))


@bp.post("/canteen/<int:canteen_id>/meals")
def create_meal(canteen_id: int):
    """Plan a meal (a draft until published)"""
    user, data = g.console_user, meal_form()
    meal = audit.audited_write(user.id, "meal_create", None, None, None,
                               lambda: menus.create_meal(user, canteen_id, data), meal_after,
                               target=lambda m: m)
    flash(f"已新建 {meal.day:%m月%d日}{MealKind(meal.kind).label}（草稿）", "ok")
    return _week_of(canteen_id, meal.day)


@bp.post("/canteen/<int:canteen_id>/copy-last-week")
def copy_last_week(canteen_id: int):
    """Copy the week before into this week, as drafts"""
    user = g.console_user
    week_start = _monday(request.form.get("week_start") or None)
    result = audit.audited_write(
        user.id, "meal_copy_week", "canteens", canteen_id, None,
        lambda: menus.copy_last_week(user, canteen_id, week_start),
        lambda r: {"week_start": week_start.isoformat(), "created": [m.id for m in r["items"]],
                   "skipped": r["skipped"]})
    flash(f"已复制上周菜单：新建 {len(result['items'])} 餐，跳过 {result['skipped']} 餐", "ok")
    return _week_of(canteen_id, week_start)


@bp.post("/meals/<int:meal_id>/publish")
def publish_meal(meal_id: int):
    """Open a meal for booking"""
    user = g.console_user
    meal = audit.audited(user.id, "meal_publish", Meal, meal_id, MEAL_FIELDS,
                         lambda: menus.publish(user, meal_id))
    flash(f"{meal.day:%m月%d日}{meal.kind.label}已发布，居民可以预订了", "ok")
    return _week_of(meal.canteen_id, meal.day)


@bp.post("/meals/<int:meal_id>/cancel")
def cancel_meal(meal_id: int):
    """Cancel a meal with a reason (its bookings cancelled, refunded, every diner told)"""
    user = g.console_user
    reason = load(MealCancelSchema(), {"reason": request.form.get("reason", "")})["reason"]
    meal = audit.audited(user.id, "meal_cancel", Meal, meal_id, MEAL_FIELDS,
                         lambda: menus.cancel(user, meal_id, reason))
    flash(f"{meal.day:%m月%d日}{meal.kind.label}已取消，已通知所有订餐人", "ok")
    return _week_of(meal.canteen_id, meal.day)


@bp.get("/meals/<int:meal_id>/kitchen")
def kitchen_sheet(meal_id: int):
    """The kitchen sheet of a meal (delivery addresses for canteen staff only)"""
    sheet = kitchen.sheet(g.console_user, meal_id)
    return render_template("console/kitchen.html", sheet=sheet, meal=sheet["meal"])


# --- the feedback box's held notes --------------------------------------------------------

@bp.get("/canteen/feedback")
def canteen_feedback():
    """Held feedback notes of the user's canteens, to release or hide"""
    user = g.console_user
    if not runs_canteens(user):
        raise Forbidden("只有食堂和社区的工作人员可以查看意见箱")
    boxes = []
    for item in my_canteens(user):
        if feedback.reads_box(user, item):
            notes = feedback.list_for_staff(user, item.id, None, FEEDBACK_MAX,
                                            status="held")["items"]
            boxes.append({"canteen": item, "notes": notes})
    return render_template("console/canteen_feedback.html", boxes=boxes)


@bp.post("/canteen-feedback/<int:feedback_id>/moderation")
def moderate_feedback(feedback_id: int):
    """Release or hide a held note (the reason kept in the audit log)"""
    user, action = g.console_user, request.form.get("action", "")
    if action not in feedback.MODERATION:
        raise ValidationFailed("请选择公开或隐藏", code="validation_error")
    reason = request.form.get("reason", "").strip()[:200] or None
    status = db.session.scalar(sa.select(CanteenFeedback.status)
                               .where(CanteenFeedback.id == feedback_id))
    audit.audited_write(user.id, f"feedback_{action}", CanteenFeedback.__tablename__,
                        feedback_id, {"status": status.value} if status is not None else None,
                        lambda: feedback.moderate(user, feedback_id, action),
                        lambda note: {"status": note["status"].value, "reason": reason})
    flash(f"意见 #{feedback_id}：" + ("已公开" if action == "release" else "已隐藏"), "ok")
    return redirect(url_for("console.canteen_feedback"))
