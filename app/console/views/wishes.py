"""Wishes to review (pending_review) and fulfilled ones the requester left unconfirmed (the
secretary's queue, `wishes.queries.list_wishes(scope="queue")`); the secretary confirms an
unconfirmed one after asking the requester (`wishes.flow`, action `confirm`), audited."""
from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from app.console import audit
from app.console.views.moderation import WISH_FIELDS, queued_wishes, rows_by_id
from app.console.web import bp
from app.models import CheckMethod, Wish, WishStatus
from app.services.wishes import flow as wish_flow


@bp.get("/wishes")
def wishes():
    """Wishes to review and those left unconfirmed"""
    user = g.console_user
    views = queued_wishes(user)
    review = unconfirmed = None
    if views is not None:
        records = rows_by_id(Wish, [v.row["id"] for v in views])
        review = [{"view": v, "decide": wish_flow.TRANSITIONS["approve"].who(
            user, records[v.row["id"]])} for v in views
            if v.row["status"] is WishStatus.PENDING_REVIEW]
        unconfirmed = [{"view": v, "confirm": wish_flow.may_confirm(user, records[v.row["id"]])}
                       for v in views if v.row["status"] is WishStatus.FULFILLED]
    return render_template("console/wishes.html", review=review, unconfirmed=unconfirmed,
                           methods=list(CheckMethod))


@bp.post("/wishes/<int:wish_id>/confirm")
def confirm_wish(wish_id: int):
    """Confirm an unconfirmed wish after asking the requester"""
    user, note = g.console_user, request.form.get("note", "").strip() or None
    audit.audited(user.id, "wish_confirm", Wish, wish_id, WISH_FIELDS + ("completed_at",),
                  lambda: wish_flow.transition(user, wish_id, "confirm", note=note))
    flash(f"心愿 #{wish_id}：已确认完成", "ok")
    return redirect(url_for("console.wishes"))
