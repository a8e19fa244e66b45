"""数字看板: one scope (community, compound or grid) and a date range; every chart with its
numbers in a table beside it. Figures come from app.console.metrics (the features'
services, with their checks); a scope the user holds no staff-side role in is 403."""
from __future__ import annotations

from datetime import date, timedelta

from flask import g, render_template, request

from app import timeutil
from app.console import metrics
from app.console.signin import STAFF_ROLES
from app.console.web import bp
from app.errors import Forbidden, ValidationFailed
from app.services.incidents import stats
from app.services.permissions import has_role

TARGET_RATE = 0.9  # 岢岚: 90% of reports answered and resolved on time
FUNNEL = {"posted": "发布", "published": "审核通过", "claimed": "认领", "fulfilled": "完成",
          "completed": "确认"}


def _chart(kind: str, label: str, pairs: list[tuple[str, int]]) -> dict:
    return {"type": kind, "label": label, "labels": [name for name, _ in pairs],
            "data": [value for _, value in pairs]}


def charts(incidents, wishes, party, points) -> dict:
    """The Chart.js specs of the sections the user sees (the same numbers as the tables)."""
    out = {}
    if incidents is not None:
        out["incidents"] = _chart("bar", "件数", [("收到", incidents["total"]),
                                                 ("超期未办结", len(incidents["overdue"]))]
                                  + [(c["name"], c["count"]) for c in incidents["top_categories"]])
    if wishes is not None:
        out["wishes"] = _chart("bar", "个数", [(name, wishes[key]) for key, name in FUNNEL.items()])
    if party is not None:
        out["party"] = _chart("doughnut", "人数", [("达标", party["members"] - party["behind"]),
                                                   ("未达标", party["behind"])])
    if points is not None:
        out["points"] = _chart("bar", "积分", [("发放", points["issued"]),
                                               ("使用", points["spent"])])
    return out


def _day(name: str, default: date) -> date:
    raw = request.args.get(name) or ""
    if not raw:
        return default
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed("日期格式应为 YYYY-MM-DD", code="invalid_range") from None
    if not 2000 <= day.year <= 2100:
        raise ValidationFailed("日期超出范围", code="invalid_range")
    return day


@bp.get("/")
def dashboard():
    """数字看板 for a scope and a date range"""
    user = g.console_user
    choices = metrics.choices(user)
    key = request.args.get("scope") or (choices[0].key if choices else None)
    end = _day("to", timeutil.today())
    start = _day("from", end - timedelta(days=6))
    context = {"choices": choices, "start": start, "end": end, "scope": None,
               "target": TARGET_RATE}
    if key is None:
        return render_template("console/dashboard.html", **context)
    scope = metrics.scope_of(key)
    if not has_role(user, STAFF_ROLES, scope.row):
        raise Forbidden("无权查看该范围的看板")
    since, until = stats.date_range(start, end)  # the statistics API's range rule
    figures = {"incidents": metrics.incidents(user, scope, start, end),
               "wishes": metrics.wish_funnel(user, scope, since, until),
               "party": metrics.behind_the_bar(user, scope),
               "points": metrics.points(user, scope, since, until)}
    context.update(scope=scope, label=metrics.LABELS[scope.kind], funnel_names=FUNNEL,
                   charts=charts(**figures), **figures)
    template = "console/_dashboard_body.html" if request.headers.get("HX-Request") \
        else "console/dashboard.html"
    return render_template(template, **context)
