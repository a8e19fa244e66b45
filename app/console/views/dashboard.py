"""数字看板: one scope (community, compound or grid) and a date range; every chart with its
numbers in a table beside it. Figures come from app.console.metrics (the features'
services, with their checks); the scopes offered are those the user's grants cover (a grid
worker's grid, a secretary's compound, staff's community with its compounds and grids),
and any other scope is 403. Charts: Chart.js canvases (static/console.js draws them), the
map of open incidents by building a server-drawn SVG (no tiles from the internet)."""
from __future__ import annotations

import math
from datetime import date, datetime, timedelta

from flask import g, render_template, request

from app import timeutil
from app.console import edits, metrics
from app.console.signin import STAFF_ROLES
from app.console.web import bp
from app.errors import Forbidden
from app.services.permissions import has_role

TARGET_RATE = 0.9  # 岢岚: 90% of reports answered and resolved on time
FUNNEL = {"posted": "发布", "published": "审核通过", "claimed": "认领", "fulfilled": "完成",
          "completed": "确认"}


MAP_WIDTH, MAP_HEIGHT, MAP_PAD = 640, 360, 24


def _chart(kind: str, label: str, pairs: list[tuple[str, float]]) -> dict:
    return {"type": kind, "label": label, "labels": [name for name, _ in pairs],
            "data": [value for _, value in pairs]}


def _pct(rate: float | None) -> float:
    return 0 if rate is None else round(rate * 100, 1)


def charts(incidents, wishes, canteen, party, visits, points) -> dict:
    """The Chart.js specs of the sections the user sees (the same numbers as the tables)."""
    out = {}
    if incidents is not None:
        out["incidents"] = _chart("bar", "件数", [("收到", incidents["total"]),
                                                 ("未办结", incidents["open"]),
                                                 ("超期未办结", incidents["overdue_count"])]
                                  + [(c["name"], c["count"]) for c in incidents["top_categories"]])
        out["rates"] = _chart("bar", "%", [
            ("按时响应率", _pct(incidents["on_time_response_rate"])),
            ("按时办结率", _pct(incidents["on_time_resolution_rate"])),
            ("目标", _pct(TARGET_RATE))])
    if wishes is not None:
        out["wishes"] = _chart("bar", "个数", [(name, wishes[key]) for key, name in FUNNEL.items()])
    if canteen is not None:
        out["canteen"] = _chart("bar", "份次", [("预订", canteen["booked"]),
                                               ("已取餐", canteen["served"]),
                                               ("未取餐", canteen["no_show"])])
    if party is not None:
        out["party"] = _chart("doughnut", "人数", [("达标", party["members"] - party["behind"]),
                                                   ("未达标", party["behind"])])
    if visits is not None:
        out["visits"] = _chart("bar", "户/人", [("应访", visits["due"]),
                                               ("逾期", visits["overdue"])])
    if points is not None:
        out["points"] = _chart("bar", "积分", [("发放", points["issued"]),
                                               ("使用", points["spent"])])
    return out


def building_map(buildings: list[dict]) -> dict:
    """The open incidents per building as circles on a plain SVG plane (no map tiles): x
    from longitude, y from latitude (north up, the longitude shrunk by cos(latitude)), the
    area proportional to the count. Buildings without a position are only in the table."""
    placed = [b for b in buildings if b["lat"] is not None and b["lng"] is not None]
    if not placed:
        return {"width": MAP_WIDTH, "height": MAP_HEIGHT, "points": []}
    squeeze = math.cos(math.radians(sum(b["lat"] for b in placed) / len(placed)))
    xs, ys = [b["lng"] * squeeze for b in placed], [b["lat"] for b in placed]
    # At least ~100 m across, so a single building sits in the middle.
    width, height = max(max(xs) - min(xs), 1e-3), max(max(ys) - min(ys), 1e-3)
    scale = min((MAP_WIDTH - 2 * MAP_PAD) / width, (MAP_HEIGHT - 2 * MAP_PAD) / height)
    mid_x, mid_y = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2  # centred both ways
    most = max(b["open"] for b in placed)
    points = [{**b, "x": round(MAP_WIDTH / 2 + (x - mid_x) * scale, 1),
               "y": round(MAP_HEIGHT / 2 - (y - mid_y) * scale, 1),
               "r": round(3 + 15 * math.sqrt(b["open"] / most), 1)}
              for b, x, y in zip(placed, xs, ys, strict=True)]
    return {"width": MAP_WIDTH, "height": MAP_HEIGHT, "points": points}


def _day(name: str, default: date) -> date:
    return edits.day(request.args.get(name), code="invalid_range") or default


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
    figures = metrics.figures(user, scope, start, end)
    for item in (figures["incidents"] or {}).get("overdue", []):
        item["local"] = timeutil.local(datetime.fromisoformat(item["resolve_by"])) \
            .strftime("%Y-%m-%d %H:%M")
    context.update(scope=scope, label=metrics.LABELS[scope.kind], funnel_names=FUNNEL,
                   charts=charts(**figures), **figures,
                   map=building_map(figures["incidents"]["buildings"])
                   if figures["incidents"] else None)
    template = "console/_dashboard_body.html" if request.headers.get("HX-Request") \
        else "console/dashboard.html"
    return render_template(template, **context)
