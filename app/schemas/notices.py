"""三个公开 notice schemas. `figures` is the snapshot as residents read it (counts under 3 as
少于3); `display` the sections in order with their lines, as printed."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.models.notices import REASON_MAX, SECTION_MAX
from app.schemas.common import PageArgs, Text, labelled
from app.services.notices import flow, sources, view, weeks

SECTION_KEYS = list(sources.SOURCES)
WEEK = fields.String(load_default=None, validate=validate.Length(max=10),
                     metadata={"description": "ISO 周，如 2026-W53；默认上周"})


class DraftCreateSchema(Schema):
    compound_id = fields.Integer(strict=True, required=True)
    week = WEEK


class NoticeUpdateSchema(Schema):
    sections = fields.Dict(
        keys=fields.String(validate=validate.OneOf(SECTION_KEYS)),
        values=Text(multiline=True, allow_none=True, validate=validate.Length(max=SECTION_MAX)),
        required=True, metadata={"description": "各栏目的说明文字（下周活动等），null 清空"})


class CorrectSchema(Schema):
    note = Text(required=True, validate=validate.Length(max=REASON_MAX),
                metadata={"description": "更正说明"})


class WithdrawSchema(Schema):
    reason = Text(required=True, validate=validate.Length(max=REASON_MAX))


class NoticeListArgs(PageArgs):
    compound_id = fields.Integer(load_default=None)


class OverviewArgs(Schema):
    community_id = fields.Integer(required=True)
    week = WEEK


class SettingsSchema(Schema):
    station_address = Text(allow_none=True, validate=validate.Length(max=100))
    station_hours = Text(allow_none=True, validate=validate.Length(max=100))
    public_contact = Text(allow_none=True, validate=validate.Length(max=40), metadata={
        "description": "书记愿意公开的联系方式；不填则公示中不显示"})


def notice_item(notice, user=None) -> dict:
    manager = user is not None and flow.manages(user, notice)
    return {"id": notice.id, "compound": {"id": notice.compound.id, "name": notice.compound.name},
            "week": weeks.name(notice.iso_year, notice.iso_week), "iso_year": notice.iso_year,
            "iso_week": notice.iso_week, "version": notice.version,
            "status": labelled(notice.status), "title": view.title(notice),
            "corrects_id": notice.corrects_id, "correction_note": notice.correction_note,
            "published_at": notice.published_at,
            "withdrawn_at": notice.withdrawn_at if manager else None,
            "withdraw_reason": notice.withdraw_reason if manager else None,
            "print_url": f"/notices/{notice.id}/print", "created_at": notice.created_at}


def notice_detail(notice, user) -> dict:
    item = notice_item(notice, user)
    shown = view.display(notice)
    item.update(sections=notice.sections or {}, figures=sources.present(notice.snapshot or {}),
                display=[{"key": s["key"], "title": s["title"],
                          "lines": [{"label": k, "value": v} for k, v in s["lines"]],
                          "listed": s["listed"], "note": s["note"]} for s in shown["sections"]],
                allowed_actions=flow.available(user, notice))
    return item


class NoticeSchema(Schema):
    id = fields.Integer()
    compound = fields.Dict()
    week = fields.String()
    iso_year = fields.Integer()
    iso_week = fields.Integer()
    version = fields.Integer()
    status = fields.Dict()
    title = fields.String()
    corrects_id = fields.Integer(allow_none=True)
    correction_note = fields.String(allow_none=True)
    published_at = fields.DateTime(allow_none=True)
    withdrawn_at = fields.DateTime(allow_none=True)
    withdraw_reason = fields.String(allow_none=True)
    print_url = fields.String()
    created_at = fields.DateTime()


class NoticeDetailSchema(NoticeSchema):
    sections = fields.Dict()
    figures = fields.Dict()
    display = fields.List(fields.Dict())
    allowed_actions = fields.List(fields.String())


class OverviewSchema(Schema):
    week = fields.String()
    items = fields.List(fields.Dict())


def overview_dump(result: dict) -> dict:
    return {"week": result["week"], "items": [
        {"compound": {"id": row["compound"].id, "name": row["compound"].name},
         "has_secretary": row["has_secretary"], "published": row["published"],
         "notice": None if row["notice"] is None else {
             "id": row["notice"].id, "version": row["notice"].version,
             "status": labelled(row["notice"].status)}}
        for row in result["items"]]}


class SettingsOutSchema(Schema):
    compound_id = fields.Integer()
    station_address = fields.String(allow_none=True)
    station_hours = fields.String(allow_none=True)
    public_contact = fields.String(allow_none=True)
