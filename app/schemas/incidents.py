"""Incident schemas. Output goes through `IncidentView`, which knows how much the viewer may
see: the public view masks the reporter ("1号楼住户") and shows no names or notes."""
from __future__ import annotations

from dataclasses import dataclass

from flask import url_for
from marshmallow import Schema, fields, validate

from app.models import Incident, IncidentEvent
from app.schemas.common import labelled

ACTIONS = ["accept", "start", "resolve", "escalate", "reassign", "reject", "confirm",
           "reopen", "rate", "follow", "comment"]
SCOPES = ["mine", "assigned", "compound", "public"]


@dataclass
class IncidentView:
    incident: Incident
    viewer_id: int
    full: bool
    events: list[IncidentEvent] | None = None


def _reporter(view: IncidentView) -> dict:
    incident = view.incident
    neighbour = f"{incident.building.name}住户"
    if not view.full:
        return {"name": neighbour}
    if incident.anonymous and incident.reporter_id != view.viewer_id:
        return {"name": "匿名居民"}
    return {"id": incident.reporter_id, "name": incident.reporter.nickname,
            "building": incident.building.name}


def list_item(row, viewer_id: int, full: bool) -> dict:
    """A list row (incident_queries.LIST_COLUMNS) as the list item; same keys as the detail."""
    if not full:
        reporter = {"name": f"{row.building_name}住户"}
    elif row.anonymous and row.reporter_id != viewer_id:
        reporter = {"name": "匿名居民"}
    else:
        reporter = {"id": row.reporter_id, "name": row.reporter_name,
                    "building": row.building_name}
    iso = lambda value: value.isoformat() if value else None  # noqa: E731
    return {
        "id": row.id, "category": {"code": row.category_code, "name": row.category_name},
        "description": row.description, "status": labelled(row.status),
        "compound": {"id": row.compound_id, "name": row.compound_name},
        "building": {"id": row.building_id, "name": row.building_name},
        "reporter": reporter, "public_view": not full,
        "assignee": {"id": row.assignee_id, "name": row.assignee_name}
        if full and row.assignee_id else None,
        "department_id": row.department_id if full else None,
        "follower_count": row.follower_count, "respond_by": iso(row.respond_by),
        "resolve_by": iso(row.resolve_by), "responded_at": iso(row.responded_at),
        "resolved_at": iso(row.resolved_at),
        "closed": labelled(row.close_reason or row.reject_reason),
        "duplicate_of": row.duplicate_of_id, "rating": row.rating if full else None,
        "created_at": iso(row.created_at)}


def _photo(upload_id: int) -> dict:
    from app.extensions import db
    from app.models import Upload
    from app.services.uploads import signed_token

    upload = db.session.get(Upload, upload_id)
    return {"id": upload_id, "url": url_for("uploads.content", upload_id=upload_id,
                                            t=signed_token(upload))}


def _event(view: IncidentView, event: IncidentEvent) -> dict:
    out = {"action": event.action, "to_status": event.to_status, "created_at": event.created_at}
    if view.full:
        out.update(actor=event.actor.nickname if event.actor else "系统", note=event.note,
                   photos=[_photo(i) for i in event.photo_ids])
    return out


class CategorySchema(Schema):
    code = fields.String()
    name = fields.String()
    default_department_id = fields.Integer(allow_none=True)
    active = fields.Boolean()
    sort_order = fields.Integer()
    respond_hours = fields.Float()
    resolve_hours = fields.Float()
    anonymous_allowed = fields.Boolean()
    public = fields.Boolean()


class CategoryUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=32))
    respond_hours = fields.Float(validate=validate.Range(min=0.25, max=24 * 7))
    resolve_hours = fields.Float(validate=validate.Range(min=0.25, max=24 * 30))
    default_department_id = fields.Integer(strict=True, allow_none=True)
    public = fields.Boolean()
    anonymous_allowed = fields.Boolean()
    active = fields.Boolean()
    sort_order = fields.Integer(strict=True)


class CategoryCreateSchema(CategoryUpdateSchema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{1,31}$"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=32))


class IncidentListItemSchema(Schema):
    """A list item, dumped from `list_item()`'s dict (plain fields: lists are hot)."""

    id = fields.Integer()
    category = fields.Dict()
    description = fields.String()
    status = fields.Dict()
    compound = fields.Dict()
    building = fields.Dict()
    reporter = fields.Dict()
    public_view = fields.Boolean()
    assignee = fields.Dict(allow_none=True)
    department_id = fields.Integer(allow_none=True)
    follower_count = fields.Integer()
    respond_by = fields.String()
    resolve_by = fields.String()
    responded_at = fields.String(allow_none=True)
    resolved_at = fields.String(allow_none=True)
    closed = fields.Dict(allow_none=True)
    duplicate_of = fields.Integer(allow_none=True)
    rating = fields.Integer(allow_none=True)
    created_at = fields.String()


class IncidentSchema(Schema):
    id = fields.Function(lambda v: v.incident.id)
    category = fields.Function(lambda v: {"code": v.incident.category.code,
                                          "name": v.incident.category.name})
    description = fields.Function(lambda v: v.incident.description)
    status = fields.Function(lambda v: labelled(v.incident.status))
    compound = fields.Function(lambda v: {"id": v.incident.compound_id,
                                          "name": v.incident.building.compound.name})
    building = fields.Function(lambda v: {"id": v.incident.building_id,
                                          "name": v.incident.building.name})
    reporter = fields.Function(_reporter)
    public_view = fields.Function(lambda v: not v.full)
    assignee = fields.Function(lambda v: {"id": v.incident.assignee_id,
                                          "name": v.incident.assignee.nickname}
                               if v.full and v.incident.assignee else None)
    department_id = fields.Function(lambda v: v.incident.department_id if v.full else None)
    follower_count = fields.Function(lambda v: v.incident.follower_count)
    respond_by = fields.Function(lambda v: v.incident.respond_by.isoformat())
    resolve_by = fields.Function(lambda v: v.incident.resolve_by.isoformat())
    responded_at = fields.Function(lambda v: v.incident.responded_at and
                                   v.incident.responded_at.isoformat())
    resolved_at = fields.Function(lambda v: v.incident.resolved_at and
                                  v.incident.resolved_at.isoformat())
    closed = fields.Function(lambda v: labelled(v.incident.close_reason or v.incident.reject_reason))
    duplicate_of = fields.Function(lambda v: v.incident.duplicate_of_id)
    rating = fields.Function(lambda v: v.incident.rating if v.full else None)
    created_at = fields.Function(lambda v: v.incident.created_at.isoformat())


class IncidentDetailSchema(IncidentSchema):
    timeline = fields.Function(lambda v: [_event(v, e) for e in v.events or []])
    photos = fields.Function(lambda v: [_photo(i) for e in (v.events or [])[:1]
                                        for i in e.photo_ids])


class IncidentCreateSchema(Schema):
    category = fields.String(required=True, validate=validate.Length(min=1, max=32))
    description = fields.String(required=True, validate=validate.Length(min=1, max=500))
    photo_ids = fields.List(fields.Integer(strict=True), load_default=list,
                            validate=validate.Length(max=9))
    lat = fields.Float(load_default=None, validate=validate.Range(min=-90, max=90))
    lng = fields.Float(load_default=None, validate=validate.Range(min=-180, max=180))
    building_id = fields.Integer(strict=True, load_default=None)
    anonymous = fields.Boolean(load_default=False)


class TransitionSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    note = fields.String(load_default=None, validate=validate.Length(max=500))
    photo_ids = fields.List(fields.Integer(strict=True), load_default=list,
                            validate=validate.Length(max=9))
    department_id = fields.Integer(strict=True, load_default=None)
    assignee_id = fields.Integer(strict=True, load_default=None)
    rating = fields.Integer(strict=True, load_default=None, validate=validate.Range(min=1, max=5))
    reason = fields.String(load_default=None, metadata={
        "description": "reject: duplicate | not_responsible | invalid"})
    duplicate_of = fields.Integer(strict=True, load_default=None,
                                  metadata={"description": "reject 为 duplicate 时，合并到的随手拍"})


class IncidentListArgs(Schema):
    scope = fields.String(load_default="mine", validate=validate.OneOf(SCOPES))
    status = fields.String(load_default=None, validate=validate.OneOf(
        ["submitted", "pending_review", "dispatched", "accepted", "in_progress", "escalated",
         "resolved", "closed", "rejected"]))
    category = fields.String(load_default=None)
    overdue = fields.Boolean(load_default=False)
    compound_id = fields.Integer(load_default=None)
    cursor = fields.String(load_default=None)
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class NearbyArgs(Schema):
    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90))
    lng = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    category = fields.String(load_default=None)


class StatsArgs(Schema):
    compound_id = fields.Integer(load_default=None)
    grid_id = fields.Integer(load_default=None)
    community_id = fields.Integer(load_default=None)
    start = fields.Date(load_default=None, data_key="from")
    end = fields.Date(load_default=None, data_key="to")
