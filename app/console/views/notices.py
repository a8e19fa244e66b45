"""三个公开 for the community's staff: which compounds have published a week's notice
(default last week), from the API's staff overview (`notices.queries.overview`, staff of
the community, admin anywhere), with a link to each published notice's print page.
Reads only: drafting and publishing stay with the secretaries (mini-program and API)."""
from __future__ import annotations

from datetime import date, timedelta

from flask import g, render_template, request

from app import timeutil
from app.console import metrics
from app.console.web import bp
from app.errors import Forbidden
from app.models import Role
from app.services.notices import queries, weeks
from app.services.permissions import has_role


def sees_notices(user) -> bool:
    return has_role(user, Role.STAFF)


@bp.context_processor
def _nav():
    user = g.get("console_user")
    return {"nav_notices": user is not None and sees_notices(user)}


def _week_names(week: str) -> tuple[str, str]:
    year, number = weeks.parse(week)
    monday = date.fromisocalendar(year, number, 1)
    return (weeks.name(*timeutil.iso_week(monday - timedelta(days=7))),
            weeks.name(*timeutil.iso_week(monday + timedelta(days=7))))


@bp.get("/notices")
def notices():
    """Which compounds have published the week's notice, with print links"""
    user = g.console_user
    if not sees_notices(user):
        raise Forbidden("只有社区工作者可以查看公示情况")
    week = request.args.get("week") or None
    communities = [s.row for s in metrics.choices(user)
                   if s.kind == "community" and has_role(user, Role.STAFF, s.row)]
    overviews = [{"community": c, **queries.overview(user, c.id, week)} for c in communities]
    shown = overviews[0]["week"] if overviews else weeks.name(*weeks.last_week())
    prev_week, next_week = _week_names(shown)
    return render_template("console/notices.html", overviews=overviews, week=shown,
                           prev_week=prev_week, next_week=next_week)
