"""双报到 and service hours: registrations, service posts and sign-ups, check-in and
check-out with the post's QR code, manual and flagged logs, my year against the bar; staff
reports (the roster and the employer roll-up, JSON and .xlsx) and 党员积分."""
from __future__ import annotations

from app.routes.common import Blueprint, errors, idempotent
from app.schemas.common import page_of
from app.schemas.party import (
    EmployerRollupSchema,
    MePartySchema,
    MyScoreArgs,
    MyScoreSchema,
    PartyMeArgs,
    PartyRegistrationCreateSchema,
    PartyRegistrationListArgs,
    PartyRegistrationSchema,
    PartyRegistrationTransitionSchema,
    PublicScoresArgs,
    PublicScoresSchema,
    ReportArgs,
    RosterArgs,
    RosterItemSchema,
    ScanSchema,
    ScoreItemCreateSchema,
    ScoreItemListArgs,
    ServiceLogCreateSchema,
    ServiceLogListArgs,
    ServiceLogSchema,
    ServiceLogVerifySchema,
    ServicePostCreateSchema,
    ServicePostListArgs,
    ServicePostSchema,
    ServiceQRSchema,
    StaffScoreItemSchema,
    me_body,
    post_item,
)
from app.security import current_principal, current_user, login_required
from app.services import spreadsheets
from app.services.party import exports, hours, posts, progress, registrations, scores

blp = Blueprint("party", __name__, url_prefix="/api/v1", description="双报到与党员服务")

QR_ERRORS = ["qr_expired", "qr_invalid", "qr_wrong_post"]


@blp.route("/party/registrations", methods=["POST"])
@login_required
@idempotent
@blp.arguments(PartyRegistrationCreateSchema)
@blp.response(201, PartyRegistrationSchema)
@errors(codes={403: "not_party_member", 404: "community_not_found", 409: "already_registered"})
def register(payload):
    """双报到: register at a home community (a party member); staff confirm it"""
    return registrations.register(current_user(), **payload)


@blp.route("/party/registrations", methods=["GET"])
@login_required
@blp.arguments(PartyRegistrationListArgs, location="query")
@blp.response(200, page_of(PartyRegistrationSchema))
@errors(403, codes={404: "community_not_found", 422: "invalid_cursor"})
def list_registrations(args):
    """A community's registrations for its staff, newest first (`status=pending`: to decide)"""
    return registrations.list_registrations(current_user(), **args)


@blp.route("/party/registrations/<int:registration_id>/transitions", methods=["POST"])
@login_required
@blp.arguments(PartyRegistrationTransitionSchema)
@blp.response(200, PartyRegistrationSchema)
@errors(403, codes={404: "registration_not_found", 409: "invalid_transition"})
def transition(payload, registration_id):
    """confirm | reject (with a reason), by the community's staff"""
    return registrations.transition(current_user(), registration_id, **payload)


@blp.route("/service-posts", methods=["POST"])
@login_required
@idempotent
@blp.arguments(ServicePostCreateSchema)
@blp.response(201, ServicePostSchema)
@errors(403, codes={404: "community_not_found"})
def create_post(payload):
    """Publish a service post (staff of the community)"""
    return post_item(posts.create_post(current_user(), **payload), False)


@blp.route("/service-posts", methods=["GET"])
@login_required
@blp.arguments(ServicePostListArgs, location="query")
@blp.response(200, page_of(ServicePostSchema))
@errors(codes={404: "community_not_found", 422: "invalid_cursor"})
def list_posts(args):
    """A community's service posts, newest first, with places left"""
    page = posts.list_posts(current_user(), **args)
    return {"items": [post_item(p, p.id in page["signed_up"]) for p in page["items"]],
            "next_cursor": page["next_cursor"]}


@blp.route("/service-posts/<int:post_id>/signups", methods=["POST"])
@login_required
@idempotent
@blp.response(201, ServicePostSchema)
@errors(codes={403: ["not_party_member", "not_registered_here"], 404: "post_not_found",
               409: ["post_full", "post_closed", "already_signed_up"]})
def sign_up(post_id):
    """Take a place (a member confirmed at the post's community); 409 `post_full` when none is left"""
    post, _ = posts.sign_up(current_user(), post_id)
    return post_item(post, True)


@blp.route("/service-posts/<int:post_id>/signups/cancel", methods=["POST"])
@login_required
@blp.response(200, ServicePostSchema)
@errors(codes={404: "post_not_found",
               409: ["not_signed_up", "already_checked_in", "post_started"]})
def cancel_signup(post_id):
    """Give my place back before the post starts (not once checked in)"""
    return post_item(posts.cancel_signup(current_user(), post_id), False)


@blp.route("/service-posts/<int:post_id>/qr", methods=["GET"])
@login_required
@blp.response(200, ServiceQRSchema)
@errors(403, codes={404: "post_not_found"})
def qr(post_id):
    """The post's current check-in and check-out tokens and QR codes (SVG), for its staff to
    show; they rotate every minute"""
    return hours.qr(current_user(), post_id)


@blp.route("/service-posts/<int:post_id>/check-in", methods=["POST"])
@login_required
@blp.arguments(ScanSchema)
@blp.response(200, ServiceLogSchema)
@errors(codes={404: "post_not_found", 409: ["not_signed_up", "post_not_open"],
               422: [*QR_ERRORS, "log_overlaps"]})
def check_in(payload, post_id):
    """Check in with the scanned token; scanning again is harmless"""
    return hours.check_in(current_user(), post_id, payload["token"])


@blp.route("/service-posts/<int:post_id>/check-out", methods=["POST"])
@login_required
@blp.arguments(ScanSchema)
@blp.response(200, ServiceLogSchema)
@errors(codes={404: "post_not_found", 409: "not_checked_in", 422: QR_ERRORS})
def check_out(payload, post_id):
    """Check out with the scanned token: the hours are verified and earn points once"""
    return hours.check_out(current_user(), post_id, payload["token"])


@blp.route("/party/logs", methods=["POST"])
@login_required
@idempotent
@blp.arguments(ServiceLogCreateSchema)
@blp.response(201, ServiceLogSchema)
@errors(403, codes={404: "post_not_found",
                    422: ["member_not_registered", "log_in_future", "log_too_long",
                          "log_overlaps"]})
def add_log(payload):
    """Enter hours a member served by hand (staff of the community, who verify them)"""
    return hours.add_manual(current_user(), **payload)


@blp.route("/party/logs", methods=["GET"])
@login_required
@blp.arguments(ServiceLogListArgs, location="query")
@blp.response(200, page_of(ServiceLogSchema))
@errors(403, codes={422: "invalid_cursor"})
def list_logs(args):
    """A community's logs for its staff, newest first (`flagged=true`: to check)"""
    return hours.staff_logs(current_user(), **args)


@blp.route("/party/logs/<int:log_id>/verify", methods=["POST"])
@login_required
@blp.arguments(ServiceLogVerifySchema)
@blp.response(200, ServiceLogSchema)
@errors(403, codes={404: "log_not_found", 409: ["already_verified", "log_open"],
                    422: "hours_exceed_log"})
def verify_log(payload, log_id):
    """Staff verify a flagged log (optionally with fewer hours): it then earns points once"""
    return hours.verify(current_user(), log_id, **payload)


@blp.route("/party/roster", methods=["GET"])
@login_required
@blp.arguments(RosterArgs, location="query")
@blp.response(200, page_of(RosterItemSchema))
@errors(403, codes={404: "community_not_found", 422: "invalid_cursor"})
def roster(args):
    """The community's confirmed members with the year's times and hours against the bar
    (its staff)"""
    return progress.roster(current_user(), **args)


@blp.route("/party/me", methods=["GET"])
@login_required(principal=True)
@blp.arguments(PartyMeArgs, location="query")
# A hot read: `me_body()` builds the JSON, not dumped a second time; the schema documents it.
@blp.response(200)
@blp.doc(responses={"200": {"description": "OK", "content": {"application/json": {
    "schema": MePartySchema}}}})
@errors(codes={403: "not_party_member", 422: "invalid_cursor"})
def me(args):
    """My registration, this year's times and hours against the bar, the posts I signed up
    for, and my history (keyset: `cursor`, `limit`)"""
    return me_body(progress.me(current_principal(), **args))


@blp.route("/party/roster.xlsx", methods=["GET"])
@login_required
@blp.arguments(ReportArgs, location="query")
@blp.response(200, content_type=spreadsheets.MIMETYPE)
@errors(403, codes={404: "community_not_found"})
def roster_xlsx(args):
    """The roster as an Excel file: every confirmed member with the year's times, hours,
    党员积分 and grade (its staff; no phone numbers)"""
    data, filename, fallback = exports.roster_workbook(current_user(), **args)
    return spreadsheets.xlsx_response(data, filename, fallback)


@blp.route("/party/employers", methods=["GET"])
@login_required
@blp.arguments(ReportArgs, location="query")
@blp.response(200, EmployerRollupSchema)
@errors(403, codes={404: "community_not_found"})
def employers(args):
    """Times and hours per employer unit per quarter of a year (the community's staff)"""
    return exports.employer_rollup(current_user(), **args)


@blp.route("/party/employers.xlsx", methods=["GET"])
@login_required
@blp.arguments(ReportArgs, location="query")
@blp.response(200, content_type=spreadsheets.MIMETYPE)
@errors(403, codes={404: "community_not_found"})
def employers_xlsx(args):
    """The employer roll-up as an Excel file"""
    data, filename, fallback = exports.employer_workbook(current_user(), **args)
    return spreadsheets.xlsx_response(data, filename, fallback)


@blp.route("/party/score-items", methods=["POST"])
@login_required
@idempotent
@blp.arguments(ScoreItemCreateSchema)
@blp.response(201, StaffScoreItemSchema)
@errors(codes={403: ["forbidden", "self_adjustment"], 404: "community_not_found",
               422: ["member_not_registered", "score_year_closed"]})
def add_score_item(payload):
    """党员积分: add (+) or take (-) points for a member confirmed at the community, with a
    reason (its staff); the member is told"""
    return scores.add_item(current_user(), **payload)


@blp.route("/party/score-items", methods=["GET"])
@login_required
@blp.arguments(ScoreItemListArgs, location="query")
@blp.response(200, page_of(StaffScoreItemSchema))
@errors(403, codes={404: "community_not_found", 422: "invalid_cursor"})
def list_score_items(args):
    """The items entered at a community, newest first (its staff)"""
    return scores.list_items(current_user(), **args)


@blp.route("/party/me/score", methods=["GET"])
@login_required
@blp.arguments(MyScoreArgs, location="query")
@blp.response(200, MyScoreSchema)
@errors(codes={403: "not_party_member", 422: ["year_not_started", "invalid_cursor"]})
def my_score(args):
    """My 党员积分 for a year: hours, wishes, staff items, the score and its grade"""
    return scores.mine(current_user(), **args)


@blp.route("/party/scores", methods=["GET"])
@login_required
@blp.arguments(PublicScoresArgs, location="query")
@blp.response(200, PublicScoresSchema)
@errors(codes={403: "not_community_member", 404: "community_not_found",
               422: ["quarter_not_started", "invalid_cursor"]})
def public_scores(args):
    """The quarterly 党员积分 公示 of a community: names, scores and grades only (its
    residents, registered members and those who work in it)"""
    return scores.public_list(current_user(), **args)
