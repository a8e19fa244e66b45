"""微心愿 schemas. Output is built by `wish_item()` / `wish_detail()` from a
`queries.WishView` (a plain row and how much the viewer sees): the wall masks the requester
("1号楼 张**") and the claimer, and shows no notes, no proof photos, no room, no phone; the
contact (room and phone) is there only for the claimer holding the claim and the managers."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.models import CheckMethod, WishCategory, WishStatus
from app.models.wishes import DESCRIPTION_MAX, PHOTOS_MAX, TITLE_MAX
from app.schemas.common import PageArgs, Text, labelled
from app.schemas.uploads import signed_url
from app.services import transitions
from app.services.wishes import access, flow, queries

# Derived from the transition table and the enums, so they cannot drift.
ACTIONS = transitions.actions(flow.TRANSITIONS)
STATUSES = [status.value for status in WishStatus]
CATEGORIES = [category.value for category in WishCategory]
CHECK_METHODS = [method.value for method in CheckMethod]


def _photos(ids) -> list[dict]:
    return [{"id": i, "url": signed_url(i)} for i in ids or []]


def wish_item(view: queries.WishView) -> dict:
    """A list item from a row of `queries.LIST_COLUMNS`; the wall's view masks the
    requester and the claimer and leaves out names, notes and review details."""
    row, full = view.row, view.full
    if full:
        requester = {"id": row["requester_id"], "name": access.requester_name(row)}
    else:
        requester = {"name": access.masked_requester(row)}
    claimer = None
    if row["claimer_id"] is not None:
        claimer = {"id": row["claimer_id"], "name": row["claimer_name"]} if full \
            else {"name": access.mask(row["claimer_name"])}
    return {
        "id": row["id"], "title": row["title"], "description": row["description"],
        "category": labelled(row["category"]), "campaign": row["campaign"],
        "status": labelled(row["status"]), "points": row["points"],
        "compound": {"id": row["compound_id"], "name": row["compound_name"]},
        "building": {"id": row["building_id"], "name": row["building_name"]},
        "requester": requester, "on_behalf": row["on_behalf"],
        "poster": {"id": row["poster_id"], "name": queries.poster(row)} if full else None,
        "claimer": claimer, "public_view": not full, "contact": view.contact,
        "photos": _photos(row["photo_ids"]),
        "flagged": row["flagged"] if full else None,
        "check_method": labelled(row["check_method"]) if full else None,
        "close_note": row["close_note"] if full else None,
        "unconfirmed": row["unconfirmed_at"] is not None if full else None,
        "claimed_at": row["claimed_at"],
        "claim_expires_at": row["claim_expires_at"] if full else None,
        "published_at": row["published_at"], "fulfilled_at": row["fulfilled_at"],
        "completed_at": row["completed_at"], "created_at": row["created_at"]}


def wish_detail(view: queries.WishView) -> dict:
    """The item plus the timeline (the wall: what happened when, no names, notes or
    photos) and the actions the viewer may take now."""
    item = wish_item(view)
    item["timeline"] = []
    for event in view.events or []:
        entry = {"action": event.action, "label": flow.LABELS.get(event.action, "进展更新"),
                 "to_status": event.to_status, "created_at": event.created_at}
        if view.full:
            entry.update(actor=event.actor.nickname if event.actor else "系统",
                         note=event.note, photos=_photos(event.photo_ids))
        item["timeline"].append(entry)
    item["allowed_actions"] = view.actions or []
    return item


class WishSchema(Schema):
    """A wish as a list item, dumped from `wish_item()`'s dict."""

    id = fields.Integer()
    title = fields.String()
    description = fields.String()
    category = fields.Dict()
    campaign = fields.String(allow_none=True)
    status = fields.Dict()
    points = fields.Integer(metadata={"description": "完成后认领人获得的积分"})
    compound = fields.Dict()
    building = fields.Dict()
    requester = fields.Dict(metadata={"description": "心愿墙上为“1号楼 张**”"})
    on_behalf = fields.Boolean(metadata={"description": "网格员或书记代为发布"})
    poster = fields.Dict(allow_none=True)
    claimer = fields.Dict(allow_none=True)
    public_view = fields.Boolean()
    contact = fields.Dict(allow_none=True, metadata={
        "description": "房号与电话：仅认领期间的认领人和网格员、书记、社区工作者可见"})
    photos = fields.List(fields.Dict())
    flagged = fields.Boolean(allow_none=True, metadata={"description": "内容待人工审核"})
    check_method = fields.Dict(allow_none=True)
    close_note = fields.String(allow_none=True)
    unconfirmed = fields.Boolean(allow_none=True,
                                 metadata={"description": "完成后超时未确认，已转书记跟进"})
    claimed_at = fields.DateTime(allow_none=True)
    claim_expires_at = fields.DateTime(allow_none=True)
    published_at = fields.DateTime(allow_none=True)
    fulfilled_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class WishDetailSchema(WishSchema):
    timeline = fields.List(fields.Dict(), metadata={
        "description": "action, label（中文）, to_status, created_at; 完整视图另有 actor, note, photos"})
    allowed_actions = fields.List(fields.String(),
                                  metadata={"description": "当前用户现在可执行的操作"})


class WishCreateSchema(Schema):
    title = Text(required=True, validate=validate.Length(min=1, max=TITLE_MAX))
    description = Text(required=True, multiline=True,
                       validate=validate.Length(min=1, max=DESCRIPTION_MAX))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    photo_ids = fields.List(fields.Integer(strict=True), load_default=list,
                            validate=validate.Length(max=PHOTOS_MAX))
    campaign = Text(load_default=None, validate=validate.Length(max=20),
                    metadata={"description": "活动标签，如 重阳节、睦邻日"})
    household_id = fields.Integer(strict=True, load_default=None, metadata={
        "description": "网格员或书记代无智能手机的住户发布时填写"})
    consent = fields.Boolean(load_default=False,
                             metadata={"description": "代为发布：已征得该户同意"})


class WishTransitionSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    note = Text(load_default=None, multiline=True, validate=validate.Length(max=DESCRIPTION_MAX),
                metadata={"description": "reject、cancel（书记/社工）、dispute、代为确认时必填"})
    photo_ids = fields.List(fields.Integer(strict=True), load_default=list,
                            validate=validate.Length(max=PHOTOS_MAX),
                            metadata={"description": "fulfil 时至少一张完成照片"})
    check_method = fields.String(load_default=None, validate=validate.OneOf(CHECK_METHODS),
                                 metadata={"description": "approve 时必填：phone 或 visit"})


class WishListArgs(PageArgs):
    scope = fields.String(load_default="wall", validate=validate.OneOf(queries.SCOPES))
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    compound_id = fields.Integer(load_default=None)
    category = fields.String(load_default=None, validate=validate.OneOf(CATEGORIES))
    campaign = fields.String(load_default=None, validate=validate.Length(max=20))
