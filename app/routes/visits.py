"""六必访: due visits by scope, logging a visit (with a wish or an incident for the
household), a household's history, its care tags, and the visit rules."""
from __future__ import annotations

from app.routes.common import Blueprint, errors, idempotent
from app.schemas.common import page_of
from app.schemas.visits import (
    CareTagsOutSchema,
    CareTagsSchema,
    DueArgs,
    DuePageSchema,
    HistoryArgs,
    RuleSchema,
    RuleUpdateSchema,
    VisitCreateSchema,
    VisitSchema,
    due_item,
    visit_item,
)
from app.security import current_principal, current_user, login_required
from app.services.visits import care, due, rules, visiting

blp = Blueprint("visits", __name__, url_prefix="/api/v1", description="六必访走访")


@blp.route("/visits/due", methods=["GET"])
@login_required(principal=True)
@blp.arguments(DueArgs, location="query")
# A hot read (every grid worker's first screen): who asks is a Principal, the items are
# built by `due_item()` and not dumped a second time through marshmallow; the schema
# documents them.
@blp.response(200)
@blp.doc(responses={"200": {"description": "OK", "content": {"application/json": {
    "schema": DuePageSchema}}}})
@errors(403, codes={404: "scope_not_found", 422: ["scope_required", "invalid_cursor"]})
def due_visits(args):
    """Households (and 流动党员) due or overdue a visit, with the last visit: mine (what I
    owe), grid (grid_id), compound (compound_id)"""
    page = due.due_list(current_principal(), **args)
    return {"items": [due_item(d, page["now"]) for d in page["items"]],
            "next_cursor": page["next_cursor"]}


@blp.route("/visits", methods=["POST"])
@login_required
@idempotent
@blp.arguments(VisitCreateSchema)
@blp.response(201, VisitSchema)
@errors(403, codes={403: ["forbidden", "not_a_resident", "outside_scope", "outside_community"],
                    404: ["household_not_found", "member_not_found"],
                    409: "wish_limit_reached", 429: "daily_limit_reached",
                    422: ["visit_subject_required", "one_follow_up_only",
                          "follow_up_needs_household", "visit_in_future", "visit_too_old",
                          "invalid_photos", "content_risky", "unknown_category"]})
def create(payload):
    """Log a visit (三必问); optionally post a wish or report an incident for the household"""
    return visit_item(visiting.log_visit(current_user(), **payload))


@blp.route("/visits", methods=["GET"])
@login_required
@blp.arguments(HistoryArgs, location="query")
@blp.response(200, page_of(VisitSchema))
@errors(403, codes={404: ["household_not_found", "member_not_found"],
                    422: ["visit_subject_required", "invalid_cursor"]})
def history(args):
    """A household's (household_id) or 流动党员's (member_id) visits, newest first: its grid
    worker, the compound's secretary and the community's staff only"""
    page = visiting.history(current_user(), **args)
    return {"items": [visit_item(v) for v in page["items"]], "next_cursor": page["next_cursor"]}


@blp.route("/visits/<int:visit_id>", methods=["GET"])
@login_required
@blp.response(200, VisitSchema)
@errors(codes={404: "visit_not_found"})
def detail(visit_id):
    """One visit"""
    return visit_item(visiting.get_visit(current_user(), visit_id))


@blp.route("/households/<int:household_id>/care-tags", methods=["GET"])
@login_required
@blp.response(200, CareTagsOutSchema)
@errors(403, codes={404: "household_not_found"})
def get_care_tags(household_id):
    """A household's care tags (personal data: its grid worker, secretary, staff)"""
    return {"household_id": household_id, "tags": [
        {"code": t.value, "name": t.label} for t in care.care_tags(current_user(), household_id)]}


@blp.route("/households/<int:household_id>/care-tags", methods=["PUT"])
@login_required
@blp.arguments(CareTagsSchema)
@blp.response(200, CareTagsOutSchema)
@errors(403, codes={404: "household_not_found"})
def put_care_tags(payload, household_id):
    """Replace a household's care tags"""
    tags = care.set_care_tags(current_user(), household_id, payload["tags"])
    return {"household_id": household_id, "tags": [{"code": t.value, "name": t.label}
                                                   for t in tags]}


@blp.route("/visit-rules", methods=["GET"])
@login_required
@blp.response(200, RuleSchema(many=True))
@errors(403)
def list_rules():
    """The visit rules: which care tag is visited how often, who owes it"""
    return rules.list_rules(current_user())


@blp.route("/visit-rules/<int:rule_id>", methods=["PUT"])
@login_required
@blp.arguments(RuleUpdateSchema)
@blp.response(200, RuleSchema)
@errors(403, codes={404: "visit_rule_not_found"})
def update_rule(payload, rule_id):
    """Change a rule's frequency or switch it off (admin)"""
    return rules.update_rule(current_user(), rule_id, **payload)
