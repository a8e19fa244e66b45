"""Incident schemas. Output is built from plain rows by `list_item()` / `detail_item()`, told
how much the viewer may see: the public view masks the reporter as their own building
("1号楼住户", "居民" when anonymous) and shows no names, notes or handling photos."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.models import IncidentStatus
from app.schemas.common import Date, labelled
from app.schemas.uploads import photo, signed_url
from app.services import transitions
from app.services.incidents import flow

# Derived from the transition table and the status enum, so they cannot drift.
ACTIONS = transitions.actions(flow.TRANSITIONS)
STATUSES = [status.value for status in IncidentStatus]
SCOPES = ["mine", "assigned", "compound", "public", "following"]


def list_item(row, viewer_id: int, full: bool) -> dict:
    """A list row (a mapping of queries.LIST_COLUMNS) as the list item; same keys
    as the detail. Times stay datetimes: the JSON encoder (lists) or the schema (detail)
    writes them."""
    if not full:  # the reporter's own building when filed, not the incident's
        home = row["reporter_building_name"]
        reporter = {"name": home + "住户" if home and not row["anonymous"] else "居民"}
    elif row["anonymous"] and row["reporter_id"] != viewer_id:
        reporter = {"name": "匿名居民"}
    else:
        reporter = {"id": row["reporter_id"], "name": row["reporter_name"],
                    "building": row["reporter_building_name"]}
    photos = row["report_photo_ids"]
    return {
        "id": row["id"],
        "category": {"code": row["category_code"], "name": row["category_name"]},
        "description": row["description"], "status": labelled(row["status"]),
        "compound": {"id": row["compound_id"], "name": row["compound_name"]},
        "building": {"id": row["building_id"], "name": row["building_name"]},
        "reporter": reporter, "public_view": not full,
        "assignee": {"id": row["assignee_id"], "name": row["assignee_name"]}
        if full and row["assignee_id"] else None,
        "department_id": row["department_id"] if full else None,
        "department": {"id": row["department_id"], "name": row["department_name"]}
        if full and row["department_id"] else None,
        # The report's first photo: the public view shows the report's photos too.
        "thumbnail_url": signed_url(photos[0]) if photos else None,
        "follower_count": row["follower_count"], "respond_by": row["respond_by"],
        "resolve_by": row["resolve_by"], "responded_at": row["responded_at"],
        "resolved_at": row["resolved_at"],
        "closed": labelled(row["close_reason"] or row["reject_reason"]),
        "duplicate_of": row["duplicate_of_id"], "rating": row["rating"] if full else None,
        "created_at": row["created_at"]}


def detail_item(detail, viewer_id: int) -> dict:
    """One incident (queries.IncidentDetail) as the list item plus its photos and
    timeline; the public view shows no names, notes or later photos."""
    def photos(ids):
        return [photo(i) for i in ids]

    item = list_item(detail.row, viewer_id, detail.full)
    item["photos"] = photos(detail.events[0].photo_ids) if detail.events else []
    item["timeline"] = []
    item["allowed_actions"] = detail.actions
    for event in detail.events:
        entry = {"action": event.action, "label": flow.LABELS.get(event.action, "进展更新"),
                 "to_status": event.to_status, "created_at": event.created_at.isoformat()}
        if detail.full:
            entry.update(actor=_actor(detail.row, event, viewer_id), note=event.note,
                         photos=photos(event.photo_ids))
        item["timeline"].append(entry)
    return item


def _actor(row, event, viewer_id: int) -> str:
    """Who acted, as the timeline shows it: an anonymous reporter stays anonymous."""
    if event.actor is None:
        return "系统"
    if row["anonymous"] and event.actor_id == row["reporter_id"] != viewer_id:
        return "匿名居民"
    return event.actor.nickname


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
    department = fields.Dict(allow_none=True, metadata={"description": "{id, name}；公开视图为空"})
    thumbnail_url = fields.String(allow_none=True, metadata={
        "description": "上报照片第一张的限时地址；没有照片为空"})
    follower_count = fields.Integer()
    respond_by = fields.DateTime()
    resolve_by = fields.DateTime()
    responded_at = fields.DateTime(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)
    closed = fields.Dict(allow_none=True)
    duplicate_of = fields.Integer(allow_none=True)
    rating = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class IncidentDetailSchema(IncidentListItemSchema):
    """One incident, dumped from `detail_item()`'s dict."""

    photos = fields.List(fields.Dict())
    timeline = fields.List(fields.Dict(), metadata={
        "description": "action, label（中文）, to_status, created_at; 完整视图另有 actor, note, photos"})
    allowed_actions = fields.List(fields.String(), metadata={
        "description": "当前用户现在可以执行的操作（transitions 的 action）"})


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
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
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
    start = Date(load_default=None, data_key="from")
    end = Date(load_default=None, data_key="to")
