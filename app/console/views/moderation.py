"""The moderation queue: incidents and wishes held as pending_review (content security
could not pass them), approved or rejected through the same transition services as the API
(app.services.incidents.flow, app.services.wishes.flow). An incident is approved by
dispatching it to a grid worker (`reassign`), rejected with a reason (`reject`); a wish is
approved with how it was checked, rejected with a note. Each decision is audited."""
from __future__ import annotations

import sqlalchemy as sa
from flask import flash, g, redirect, render_template, request, url_for

from app.console import audit, edits
from app.console.web import bp
from app.errors import Forbidden, ValidationFailed
from app.extensions import db
from app.models import CheckMethod, Incident, IncidentStatus, RejectReason, Wish, WishStatus
from app.schemas.incidents import TransitionSchema as IncidentTransitionSchema
from app.schemas.wishes import WishTransitionSchema
from app.services import org
from app.services.incidents import flow as incident_flow
from app.services.incidents import queries as incident_queries
from app.services.wishes import flow as wish_flow
from app.services.wishes import queries as wish_queries

QUEUE_LIMIT = 100
INCIDENT_FIELDS = ("status", "assignee_id", "reject_reason", "closed_at")
WISH_FIELDS = ("status", "check_method", "reviewed_by_id", "close_note", "published_at")


def rows_by_id(model, ids) -> dict:
    """The ORM rows for the listed ids (one query), to ask the transition rules who may act."""
    if not ids:
        return {}
    return {row.id: row for row in db.session.scalars(sa.select(model).where(model.id.in_(ids)))}


def may(table, action: str, user, record) -> bool:
    rule = table[action]
    return record.status in rule.sources and rule.who(user, record)


def pending_incidents(user) -> list[dict] | None:
    try:
        page = incident_queries.list_incidents(user, "compound", None, QUEUE_LIMIT,
                                               status=IncidentStatus.PENDING_REVIEW.value)
    except Forbidden:
        return None
    records = rows_by_id(Incident, [row["id"] for row, _ in page["items"]])
    workers: dict[int, list] = {}
    items = []
    for row, full in page["items"]:
        record = records[row["id"]]
        approve = may(incident_flow.TRANSITIONS, "reassign", user, record)
        if approve and row["compound_id"] not in workers:
            workers[row["compound_id"]] = org.grid_workers(
                user, row["compound_id"], None, QUEUE_LIMIT)["items"]
        items.append({"row": row, "full": full, "approve": approve,
                      "reject": may(incident_flow.TRANSITIONS, "reject", user, record),
                      "workers": workers.get(row["compound_id"], [])})
    return items


def queued_wishes(user) -> list | None:
    """The wish queue the API serves (pending_review, and fulfilled ones left unconfirmed)."""
    try:
        return wish_queries.list_wishes(user, "queue", None, QUEUE_LIMIT)["items"]
    except Forbidden:
        return None


def pending_wishes(user) -> list[dict] | None:
    views = queued_wishes(user)
    if views is None:
        return None
    views = [v for v in views if v.row["status"] is WishStatus.PENDING_REVIEW]
    records = rows_by_id(Wish, [v.row["id"] for v in views])
    return [{"view": v, "decide": may(wish_flow.TRANSITIONS, "approve", user,
                                      records[v.row["id"]])} for v in views]


@bp.get("/moderation")
def moderation():
    """The moderation queue: pending_review incidents and wishes"""
    user = g.console_user
    return render_template("console/moderation.html", incidents=pending_incidents(user),
                           wishes=pending_wishes(user), reasons=list(RejectReason),
                           methods=list(CheckMethod))


def _int(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise ValidationFailed("请选择有效的选项", code="validation_error")
    return int(raw)


def _note(schema, action: str) -> str | None:
    """The form's note, checked by the API's own transition schema (length, bad text)."""
    note = request.form.get("note", "").strip() or None
    return edits.load(schema, {"action": action, "note": note}, {"note": "说明"})["note"]


@bp.post("/moderation/incidents/<int:incident_id>")
def decide_incident(incident_id: int):
    """Approve (dispatch) or reject a held incident"""
    user, decision = g.console_user, request.form.get("decision")
    note = _note(IncidentTransitionSchema(), "reassign")
    if decision == "approve":
        action, kwargs = "reassign", {"assignee_id": _int("assignee_id"), "note": note}
    elif decision == "reject":
        action, kwargs = "reject", {"reason": request.form.get("reason") or None, "note": note,
                                    "duplicate_of": _int("duplicate_of")}
    else:
        raise ValidationFailed("请选择通过或不予受理", code="validation_error")
    audit.audited(user.id, f"incident_{decision}", Incident, incident_id, INCIDENT_FIELDS,
                  lambda: incident_flow.transition(user, incident_id, action, **kwargs))
    flash(f"随手拍 #{incident_id}：" + ("已通过并派单" if decision == "approve" else "已不予受理"),
          "ok")
    return redirect(url_for("console.moderation"))


@bp.post("/moderation/wishes/<int:wish_id>")
def decide_wish(wish_id: int):
    """Approve or reject a held wish"""
    user, decision = g.console_user, request.form.get("decision")
    note = _note(WishTransitionSchema(), "reject")
    if decision == "approve":
        kwargs = {"check_method": request.form.get("check_method") or None}
    elif decision == "reject":
        kwargs = {"note": note}
    else:
        raise ValidationFailed("请选择通过或不通过", code="validation_error")
    audit.audited(user.id, f"wish_{decision}", Wish, wish_id, WISH_FIELDS,
                  lambda: wish_flow.transition(user, wish_id, decision, **kwargs))
    flash(f"心愿 #{wish_id}：" + ("审核通过" if decision == "approve" else "审核未通过"), "ok")
    return redirect(request.form.get("back") == "wishes" and url_for("console.wishes")
                    or url_for("console.moderation"))
