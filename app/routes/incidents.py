"""随手拍: categories, report, lists, nearby, detail with timeline, transitions, stats."""
from __future__ import annotations

from marshmallow import Schema, fields

from app.routes.common import Blueprint, errors, idempotent
from app.schemas.common import page_of
from app.schemas.incidents import (
    CategoryCreateSchema,
    CategorySchema,
    CategoryUpdateSchema,
    IncidentCreateSchema,
    IncidentDetailSchema,
    IncidentListArgs,
    IncidentListItemSchema,
    NearbyArgs,
    StatsArgs,
    TransitionSchema,
    detail_item,
    list_item,
)
from app.security import current_principal, current_user, login_required
from app.services.incidents import categories, filing, flow, queries, stats

blp = Blueprint("incidents", __name__, url_prefix="/api/v1", description="随手拍")


class CategoryList(Schema):
    items = fields.List(fields.Nested(CategorySchema))
    next_cursor = fields.String(allow_none=True, metadata={"description": "一次全部返回：总是 null"})


IncidentPage = page_of(IncidentListItemSchema)


def _items(pairs):
    viewer_id = current_principal().id
    return [list_item(row, viewer_id, full) for row, full in pairs]


def _detail(incident_id):
    viewer = current_principal()  # after a write: the User who wrote
    return detail_item(queries.detail(viewer, incident_id), viewer.id)


@blp.route("/incident-categories", methods=["GET"])
@login_required(principal=True)
@blp.response(200, CategoryList)
def list_categories():
    """Categories with their SLA hours"""
    return {"items": categories.list_categories(), "next_cursor": None}


@blp.route("/incident-categories", methods=["POST"])
@login_required
@blp.arguments(CategoryCreateSchema)
@blp.response(201, CategorySchema)
@errors(403, codes={404: "department_not_found", 409: "category_exists", 422: "invalid_sla"})
def create_category(payload):
    """Add a category (admin: categories are the same everywhere)"""
    return categories.save_category(current_user(), payload.pop("code"), payload, create=True)


@blp.route("/incident-categories/<code>", methods=["PUT"])
@login_required
@blp.arguments(CategoryUpdateSchema)
@blp.response(200, CategorySchema)
@errors(403, codes={404: ["category_not_found", "department_not_found"], 422: "invalid_sla"})
def update_category(payload, code):
    """Change a category's name, SLA hours, department, visibility (admin); reports keep
    the visibility they were filed with"""
    return categories.save_category(current_user(), code, payload, create=False)


@blp.route("/incidents", methods=["POST"])
@login_required
@idempotent
@blp.arguments(IncidentCreateSchema)
@blp.response(201, IncidentDetailSchema)
@errors(codes={403: ["not_a_resident", "outside_community", "outside_scope"],
               404: "building_not_found", 422: ["unknown_category", "anonymous_not_allowed",
                                                "invalid_photos", "content_risky", "location_required"],
               429: "daily_limit_reached"})
def create(payload):
    """Report a problem (随手拍): verified residents in their community, grid workers,
    secretaries and staff in their scope; routed to the building's grid worker"""
    return _detail(filing.create_incident(current_user(), **payload).id)


@blp.route("/incidents", methods=["GET"])
@login_required(principal=True)
@blp.arguments(IncidentListArgs, location="query")
# The hottest read: items are built by `list_item()` and not dumped a second time through
# marshmallow (a third of the request); the schema documents them.
@blp.response(200)
@blp.doc(responses={"200": {"description": "OK", "content": {"application/json": {
    "schema": IncidentPage}}}})
@errors(403, codes={422: ["unknown_category", "invalid_cursor"]})
def list_incidents(args):
    """mine | assigned | compound | public | following, filtered by status, category, overdue"""
    page = queries.list_incidents(current_principal(), **args)
    return {"items": _items(page["items"]), "next_cursor": page["next_cursor"]}


@blp.route("/incidents/nearby", methods=["GET"])
@login_required(principal=True)
@blp.arguments(NearbyArgs, location="query")
@blp.response(200, IncidentPage)
def nearby(args):
    """Open incidents within 200 m in the last 30 days, nearest first, at most 20 (say "me
    too" instead); one page: next_cursor is null"""
    return {"items": _items(queries.nearby(current_principal(), **args)), "next_cursor": None}


@blp.route("/incidents/stats", methods=["GET"])
@login_required(principal=True)
@blp.arguments(StatsArgs, location="query")
@blp.response(200)
@errors(403, 404, codes={422: ["invalid_target", "invalid_range"]})
def incident_stats(args):
    """Counts, on-time rates, medians, top categories, overdue (secretary, staff)"""
    return stats.incident_stats(current_principal(), **args)


@blp.route("/incidents/<int:incident_id>", methods=["GET"])
@login_required(principal=True)
@blp.response(200, IncidentDetailSchema)
@errors(codes={404: "incident_not_found"})
def detail(incident_id):
    """One incident with its timeline"""
    return _detail(incident_id)


@blp.route("/incidents/<int:incident_id>/transitions", methods=["POST"])
@login_required
@blp.arguments(TransitionSchema)
@blp.response(200, IncidentDetailSchema)
@errors(403, codes={404: ["incident_not_found", "department_not_found"],
                    409: ["invalid_transition", "reopen_window_passed", "already_rated", "already_following"],
                    422: ["content_risky", "invalid_photos", "invalid_assignee", "invalid_duplicate",
                          "same_department"],
                    503: "content_check_unavailable"})
def transition(payload, incident_id):
    """accept, start, resolve, escalate, reassign, reject, confirm, reopen, rate, follow, comment"""
    flow.transition(current_user(), incident_id, **payload)
    return _detail(incident_id)
