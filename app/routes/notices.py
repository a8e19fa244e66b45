"""三个公开 weekly notices: drafts, edit, publish, correct, withdraw, the lists, the staff
overview, the compound's settings; and the printable page, PDF and plain text
(`print_blp`, outside /api: opened in any browser)."""
from __future__ import annotations

from flask import Response, url_for

from app.routes.common import Blueprint, errors
from app.schemas.common import page_of
from app.schemas.notices import (
    CorrectSchema,
    DraftCreateSchema,
    NoticeDetailSchema,
    NoticeListArgs,
    NoticeSchema,
    NoticeUpdateSchema,
    OverviewArgs,
    OverviewSchema,
    SettingsOutSchema,
    SettingsSchema,
    WithdrawSchema,
    notice_detail,
    notice_item,
    overview_dump,
)
from app.security import current_user, login_required
from app.services.notices import drafting, flow, printing, queries, settings

blp = Blueprint("notices", __name__, url_prefix="/api/v1", description="三个公开周公示")
print_blp = Blueprint("notice_print", __name__, url_prefix="/notices",
                      description="公示打印页（无需登录）")
NOT_FOUND = {404: "notice_not_found"}
TRANSITION = {404: "notice_not_found", 409: "invalid_transition"}


@blp.route("/notices/drafts", methods=["POST"])
@login_required
@blp.arguments(DraftCreateSchema)
@blp.response(201, NoticeDetailSchema)
@errors(403, codes={404: "compound_not_found", 409: "notice_already_published",
                    422: ["invalid_week", "week_in_future"]})
def create_draft(payload):
    """The compound's draft for a week (default last week), filled from live data; the
    same draft (200) if one exists"""
    notice, created = drafting.draft(current_user(), **payload)
    return notice_detail(notice, current_user()), 201 if created else 200


@blp.route("/notices", methods=["GET"])
@login_required
@blp.arguments(NoticeListArgs, location="query")
@blp.response(200, page_of(NoticeSchema))
@errors(codes={404: "compound_not_found", 422: ["compound_required", "invalid_cursor"]})
def list_notices(args):
    """A compound's notices, newest first (default: my compound); residents see the
    published ones"""
    page = queries.list_notices(current_user(), **args)
    return {"items": [notice_item(n, current_user()) for n in page["items"]],
            "next_cursor": page["next_cursor"]}


@blp.route("/notices/overview", methods=["GET"])
@login_required
@blp.arguments(OverviewArgs, location="query")
@blp.response(200, OverviewSchema)
@errors(403, codes={404: "community_not_found", 422: "invalid_week"})
def overview(args):
    """Which compounds of the community published the week's notice (staff)"""
    return overview_dump(queries.overview(current_user(), **args))


@blp.route("/notices/<int:notice_id>", methods=["GET"])
@login_required
@blp.response(200, NoticeDetailSchema)
@errors(codes=NOT_FOUND)
def detail(notice_id):
    """One notice with its figures and sections"""
    return notice_detail(flow.get_visible(current_user(), notice_id), current_user())


@blp.route("/notices/<int:notice_id>", methods=["PUT"])
@login_required
@blp.arguments(NoticeUpdateSchema)
@blp.response(200, NoticeDetailSchema)
@errors(403, codes=TRANSITION)
def update(payload, notice_id):
    """Edit a draft's free text (the numbers are not editable: a note may annotate them)"""
    return notice_detail(flow.edit(current_user(), notice_id, **payload), current_user())


@blp.route("/notices/<int:notice_id>/publish", methods=["POST"])
@login_required
@blp.response(200, NoticeDetailSchema)
@errors(403, codes=TRANSITION)
def publish(notice_id):
    """Publish: freeze the numbers, tell every resident of the compound"""
    return notice_detail(flow.publish(current_user(), notice_id), current_user())


@blp.route("/notices/<int:notice_id>/corrections", methods=["POST"])
@login_required
@blp.arguments(CorrectSchema)
@blp.response(201, NoticeDetailSchema)
@errors(403, codes={**TRANSITION, 409: ["invalid_transition", "draft_exists"]})
def correct(payload, notice_id):
    """Start a correction of a published notice: version n+1 (更正), which supersedes it
    when published"""
    return notice_detail(flow.correct(current_user(), notice_id, **payload), current_user())


@blp.route("/notices/<int:notice_id>/withdraw", methods=["POST"])
@login_required
@blp.arguments(WithdrawSchema)
@blp.response(200, NoticeDetailSchema)
@errors(403, codes=TRANSITION)
def withdraw(payload, notice_id):
    """Withdraw a published notice, with a reason (community staff)"""
    return notice_detail(flow.withdraw(current_user(), notice_id, **payload), current_user())


@blp.route("/compounds/<int:compound_id>/notice-settings", methods=["GET"])
@login_required
@blp.response(200, SettingsOutSchema)
@errors(codes={404: "compound_not_found"})
def get_settings(compound_id):
    """The station's address and hours and the secretary's public contact"""
    return settings.get(compound_id)


@blp.route("/compounds/<int:compound_id>/notice-settings", methods=["PUT"])
@login_required
@blp.arguments(SettingsSchema)
@blp.response(200, SettingsOutSchema)
@errors(403, codes={404: "compound_not_found"})
def put_settings(payload, compound_id):
    """Set them (the compound's secretary; a public contact only if they choose to)"""
    return settings.update(current_user(), compound_id, **payload)


def _online_url(notice_id: int) -> str:
    return url_for("notice_print.print_page", notice_id=notice_id, _external=True)


@print_blp.route("/<int:notice_id>/print", methods=["GET"])
@errors(codes=NOT_FOUND)
def print_page(notice_id):
    """The A4 page for the notice board (HTML with print CSS)"""
    return Response(printing.html(notice_id, _online_url(notice_id)),
                    mimetype="text/html")


@print_blp.route("/<int:notice_id>/print.pdf", methods=["GET"])
@errors(codes={**NOT_FOUND, 503: "pdf_unavailable"})
def print_pdf(notice_id):
    """The same page as PDF (where WeasyPrint and a CJK font are installed)"""
    return Response(printing.pdf(notice_id, _online_url(notice_id)),
                    mimetype="application/pdf",
                    headers={"Content-Disposition": f"inline; filename=notice-{notice_id}.pdf"})


@print_blp.route("/<int:notice_id>/text", methods=["GET"])
@errors(codes=NOT_FOUND)
def plain_text(notice_id):
    """Plain text to paste into the compound's WeChat group"""
    return Response(printing.text(notice_id), mimetype="text/plain")
