"""办事指南: the catalog (anyone signed in reads, the community's staff write, export and
import it as .xlsx through app.services.excel), a match preview, and the questions the bot
could not answer (gaps, 人工 tickets)."""
from __future__ import annotations

from app.routes.common import Blueprint, errors
from app.schemas.common import PageArgs, page_of
from app.schemas.excel import ImportArgs, ImportFileSchema, ImportReportSchema
from app.schemas.guides import (
    GapSchema,
    GuideEntryInput,
    GuideEntrySchema,
    GuideEntryUpdate,
    GuideListArgs,
    MatchArgs,
    MatchSchema,
    TicketAnswerSchema,
    TicketArgs,
    TicketSchema,
)
from app.security import current_user, login_required
from app.services import spreadsheets
from app.services.excel import guides as excel_guides
from app.services.excel import kinds
from app.services.guides import catalog, handoff, matching

blp = Blueprint("guides", __name__, url_prefix="/api/v1", description="办事指南")


@blp.route("/guides", methods=["GET"])
@login_required
@blp.arguments(GuideListArgs, location="query")
@blp.response(200, page_of(GuideEntrySchema))
@errors(codes={422: ["community_required", "invalid_cursor"]})
def list_entries(args):
    """The catalog of a community (default: mine), in order of creation"""
    return catalog.list_entries(current_user(), args["community_id"], args["cursor"],
                                args["limit"], args["include_inactive"])


@blp.route("/guides", methods=["POST"])
@login_required
@blp.arguments(GuideEntryInput)
@blp.response(201, GuideEntrySchema)
@errors(403, codes={409: "guide_title_taken", 422: "community_required"})
def create_entry(payload):
    """Staff: add an entry to the community's catalog"""
    return catalog.create_entry(current_user(), payload)


@blp.route("/guides.xlsx", methods=["GET"])
@login_required
@blp.arguments(GuideListArgs, location="query")
@blp.response(200, content_type=spreadsheets.MIMETYPE)
@errors(403, codes={422: "community_required"})
def export(args):
    """Staff: the community's whole catalog as an Excel file (deleted entries marked)"""
    data, filename, fallback = catalog.export_workbook(current_user(), args["community_id"])
    return spreadsheets.xlsx_response(data, filename, fallback)


@blp.route("/guides/import", methods=["POST"])
@login_required
@blp.arguments(ImportArgs, location="query")
@blp.arguments(ImportFileSchema, location="files")
@blp.response(200, ImportReportSchema)
@errors(403, codes={413: "payload_too_large",
                    422: ["invalid_spreadsheet", "import_invalid", "community_required"]})
def import_entries(args, files):
    """Staff: import the catalog from .xlsx (`dry_run=1`: only check); all rows or none"""
    report = kinds.run(excel_guides.KIND, current_user(), files["file"].read(),
                       {"community_id": args["community_id"]}, commit=not args["dry_run"])
    return report.as_dict()


@blp.route("/guides/match", methods=["GET"])
@login_required
@blp.arguments(MatchArgs, location="query")
@blp.response(200, MatchSchema)
def match(args):
    """What the bot would answer to a question: confident, unsure (top 3) or none"""
    return matching.preview(args["community_id"], args["q"])


@blp.route("/guides/<int:entry_id>", methods=["GET"])
@login_required
@blp.response(200, GuideEntrySchema)
@errors(codes={404: "guide_not_found"})
def get_entry(entry_id):
    """One entry"""
    return catalog.get_entry(current_user(), entry_id)


@blp.route("/guides/<int:entry_id>", methods=["PUT"])
@login_required
@blp.arguments(GuideEntryUpdate)
@blp.response(200, GuideEntrySchema)
@errors(403, codes={404: "guide_not_found", 409: "guide_title_taken"})
def update_entry(payload, entry_id):
    """Staff: replace an entry (reactivates a deleted one)"""
    return catalog.update_entry(current_user(), entry_id, payload)


@blp.route("/guides/<int:entry_id>", methods=["DELETE"])
@login_required
@blp.response(204)
@errors(403, codes={404: "guide_not_found"})
def delete_entry(entry_id):
    """Staff: take an entry out of the catalog (the bot stops answering with it)"""
    catalog.delete_entry(current_user(), entry_id)


@blp.route("/guides/gaps", methods=["GET"])
@login_required
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(GapSchema))
@errors(403, codes={422: "community_required"})
def gaps(args):
    """Staff: questions the catalog could not answer, newest first"""
    return handoff.list_gaps(current_user(), None, args["cursor"], args["limit"])


@blp.route("/guides/tickets", methods=["GET"])
@login_required
@blp.arguments(TicketArgs, location="query")
@blp.response(200, page_of(TicketSchema))
@errors(403, codes={422: "community_required"})
def tickets(args):
    """Staff: 人工 tickets from the official account, newest first"""
    return handoff.list_tickets(current_user(), args["community_id"], args["status"],
                                args["cursor"], args["limit"])


@blp.route("/guides/tickets/<int:ticket_id>/answer", methods=["POST"])
@login_required
@blp.arguments(TicketAnswerSchema)
@blp.response(200, TicketSchema)
@errors(codes={404: "ticket_not_found", 409: "ticket_already_answered"})
def answer(payload, ticket_id):
    """Staff: answer a ticket (a customer-service message to the follower)"""
    return handoff.answer_ticket(current_user(), ticket_id, payload["answer"])


@blp.route("/guides/gaps/<int:gap_id>/resolve", methods=["POST"])
@login_required
@blp.response(200, GapSchema)
@errors(codes={404: "gap_not_found", 409: "gap_already_resolved"})
def resolve_gap(gap_id):
    """Staff: take an unanswered question off the gap list (the catalog now covers it, or
    it needs no entry)"""
    return handoff.resolve_gap(current_user(), gap_id)
