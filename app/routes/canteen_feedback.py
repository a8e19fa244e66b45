"""The canteen's periphery: the feedback box (民意反馈箱), monthly ratings, the monthly
subsidy report (.xlsx) for the reimbursement claim, and appeals against a no-show
suspension."""
from __future__ import annotations

from app.routes.common import Blueprint, errors, idempotent
from app.schemas.canteen_feedback import (
    FeedbackCreateSchema,
    FeedbackListArgs,
    FeedbackModerationSchema,
    FeedbackReplySchema,
    FeedbackSchema,
    RatingsArgs,
    RatingsSchema,
    SubsidyReportArgs,
    SuspensionListArgs,
    SuspensionSchema,
)
from app.schemas.common import page_of
from app.security import current_user, login_required
from app.services import spreadsheets
from app.services.canteen import feedback, noshows, reports

blp = Blueprint("canteen_feedback", __name__, url_prefix="/api/v1",
                description="社区食堂：民意反馈箱与补贴报表")


@blp.route("/canteens/<int:canteen_id>/feedback", methods=["POST"])
@login_required
@idempotent
@blp.arguments(FeedbackCreateSchema)
@blp.response(201, FeedbackSchema)
@errors(codes={403: "not_community_member", 404: "canteen_not_found",
               422: "content_risky", 429: "daily_limit_reached"})
def submit(payload, canteen_id):
    """Rate the canteen 1–5 with an optional note (verified residents of its community);
    `anonymous` hides the author from staff"""
    return feedback.submit(current_user(), canteen_id, **payload)


@blp.route("/canteens/<int:canteen_id>/feedback", methods=["GET"])
@login_required
@blp.arguments(FeedbackListArgs, location="query")
@blp.response(200, page_of(FeedbackSchema))
@errors(403, codes={404: "canteen_not_found", 422: "invalid_cursor"})
def list_feedback(args, canteen_id):
    """The box, newest first (the canteen's and the community's staff)"""
    return feedback.list_for_staff(current_user(), canteen_id, **args)


@blp.route("/canteen-feedback/<int:feedback_id>", methods=["GET"])
@login_required
@blp.response(200, FeedbackSchema)
@errors(codes={404: "feedback_not_found"})
def get_feedback(feedback_id):
    """One note with its reply (its author, or the staff)"""
    return feedback.get(current_user(), feedback_id)


@blp.route("/canteen-feedback/<int:feedback_id>/reply", methods=["POST"])
@login_required
@blp.arguments(FeedbackReplySchema)
@blp.response(200, FeedbackSchema)
@errors(403, codes={404: "feedback_not_found", 409: "feedback_already_replied"})
def reply(payload, feedback_id):
    """Answer a note once (the staff); its author is told"""
    return feedback.reply(current_user(), feedback_id, payload["reply"])


@blp.route("/canteen-feedback/<int:feedback_id>/moderation", methods=["POST"])
@login_required
@blp.arguments(FeedbackModerationSchema)
@blp.response(200, FeedbackSchema)
@errors(403, codes={404: "feedback_not_found", 409: "invalid_transition"})
def moderate(payload, feedback_id):
    """Release a held note or hide a held or visible one (the canteen's and the community's
    staff)"""
    return feedback.moderate(current_user(), feedback_id, payload["action"])


@blp.route("/canteens/<int:canteen_id>/ratings", methods=["GET"])
@login_required
@blp.arguments(RatingsArgs, location="query")
@blp.response(200, RatingsSchema)
@errors(codes={403: "not_community_member", 404: "canteen_not_found"})
def ratings(args, canteen_id):
    """Average rating and count per month, oldest first (residents of the community, staff)"""
    return feedback.monthly(current_user(), canteen_id, **args)


@blp.route("/canteens/<int:canteen_id>/subsidy-report.xlsx", methods=["GET"])
@login_required
@blp.arguments(SubsidyReportArgs, location="query")
@blp.response(200, content_type=spreadsheets.MIMETYPE)
@errors(403, codes={404: "canteen_not_found"})
def subsidy_report(args, canteen_id):
    """A month's meals handed over, by tier, by date and by diner, with the subsidy totals,
    as an Excel file (the community's staff)"""
    data, filename, fallback = reports.subsidy_report(current_user(), canteen_id, args["month"])
    return spreadsheets.xlsx_response(data, filename, fallback)


@blp.route("/canteen-suspensions", methods=["GET"])
@login_required
@blp.arguments(SuspensionListArgs, location="query")
@blp.response(200, page_of(SuspensionSchema))
@errors(403, codes={404: "community_not_found", 422: "invalid_cursor"})
def list_suspensions(args):
    """Self-booking suspensions in force of a community's residents, newest first (its
    canteen and community staff), to hear appeals"""
    return noshows.list_active(current_user(), **args)


@blp.route("/canteen-suspensions/<int:suspension_id>/lift", methods=["POST"])
@login_required
@blp.response(200, SuspensionSchema)
@errors(codes={404: "suspension_not_found", 409: "suspension_over"})
def lift_suspension(suspension_id):
    """End a suspension early after an appeal (staff of the person's community); they are
    told"""
    return noshows.lift(current_user(), suspension_id)
