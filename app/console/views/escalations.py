"""Escalated incidents (部门买单) for the departments: what is escalated to the user's
department and still open (escalated, accepted, in progress), from the API's list service
(`incidents.queries.list_incidents`, scope `assigned`, which holds the department's
incidents; admin: scope `compound`, every incident held by a department), with the moves
the API offers them (`queries.allowed_actions`): accept, start, resolve (a note and at
least one photo, uploaded through `uploads.create_upload` as the API's uploads are) and
comment. Every move goes through `incidents.flow.transition`, audited."""
from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from app.console import audit
from app.console.views.canteen import load
from app.console.views.moderation import INCIDENT_FIELDS, QUEUE_LIMIT, rows_by_id
from app.console.web import bp
from app.errors import Forbidden, ValidationFailed
from app.models import Incident, IncidentStatus, Role
from app.schemas.incidents import TransitionSchema
from app.services import uploads
from app.services.incidents import flow
from app.services.incidents import queries as incident_queries
from app.services.permissions import has_role

S = IncidentStatus
HELD_BY_DEPARTMENT = (S.ESCALATED, S.ACCEPTED, S.IN_PROGRESS)
ACTIONS = {"accept": "接单", "start": "开始处理", "resolve": "办结", "comment": "留言"}
PHOTOS_MAX = 9


def sees_escalations(user) -> bool:
    return has_role(user, Role.DEPARTMENT)


@bp.context_processor
def _nav():
    user = g.get("console_user")
    return {"nav_escalations": user is not None and sees_escalations(user)}


def escalated(user) -> list[dict]:
    """The open incidents the user's departments hold (admin: every department's), with the
    actions each offers; newest first within each status."""
    admin = has_role(user, Role.ADMIN)
    departments = {g.scope_id for g in user.grants if g.role is Role.DEPARTMENT}
    rows = []
    for status in HELD_BY_DEPARTMENT:
        page = incident_queries.list_incidents(user, "compound" if admin else "assigned", None,
                                               QUEUE_LIMIT, status=status.value)
        rows += [(row, full) for row, full in page["items"] if row["department_id"] is not None
                 and (admin or row["department_id"] in departments)]
    records = rows_by_id(Incident, [row["id"] for row, _ in rows])
    return [{"row": row, "full": full,
             "actions": [a for a in incident_queries.allowed_actions(user, records[row["id"]])
                         if a in ACTIONS]} for row, full in rows]


@bp.get("/escalations")
def escalations():
    """Incidents escalated to the user's department, with what they may do"""
    user = g.console_user
    if not sees_escalations(user):
        raise Forbidden("只有职能部门可以查看上报给部门的随手拍")
    return render_template("console/escalations.html", items=escalated(user), labels=ACTIONS)


def _photos(user) -> list[int]:
    files = [f for f in request.files.getlist("photos") if f and f.filename]
    if len(files) > PHOTOS_MAX:
        raise ValidationFailed(f"最多上传 {PHOTOS_MAX} 张照片", code="validation_error")
    return [uploads.create_upload(user, f.read()).id for f in files]


@bp.post("/escalations/<int:incident_id>")
def act_on_escalation(incident_id: int):
    """Accept, start, resolve (note and photos) or comment on an escalated incident"""
    user, action = g.console_user, request.form.get("action", "")
    if action not in ACTIONS:
        raise ValidationFailed("请选择要执行的操作", code="validation_error")
    note = load(TransitionSchema(), {"action": action,
                                     "note": request.form.get("note", "").strip() or None})["note"]
    photo_ids = _photos(user) if action == "resolve" else []
    audit.audited(user.id, f"incident_{action}", Incident, incident_id, INCIDENT_FIELDS
                  + ("resolved_at", "responded_at"),
                  lambda: flow.transition(user, incident_id, action, note=note,
                                          photo_ids=photo_ids))
    flash(f"随手拍 #{incident_id}：已{ACTIONS[action]}", "ok")
    return redirect(url_for("console.escalations"))
