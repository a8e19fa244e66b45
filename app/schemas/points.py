"""Points: the ledger, staff adjustments, ranking preferences and the monthly ranking."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.schemas.common import MONTH, labelled
from app.services.points.ledger import MAX_ADJUSTMENT, describe


class LedgerEntrySchema(Schema):
    id = fields.Integer()
    amount = fields.Integer(metadata={"description": "正数为获得，负数为支出"})
    balance_after = fields.Integer()
    rule = fields.Function(lambda e: labelled(e.rule))
    ref = fields.String(allow_none=True, metadata={"description": "关联对象，如 incident:123"})
    # `ledger.ledger` describes a page with one query for the references; an entry
    # dumped alone is described from its rule and note.
    description = fields.Function(
        lambda e: getattr(e, "description", None) or describe(e),
        metadata={"description": "积分变动原因，如“随手拍问题经确认：3号楼路灯不亮”"})
    created_at = fields.DateTime()


class PointsSchema(Schema):
    balance = fields.Integer(required=True)
    ranking_public = fields.Boolean(required=True)
    items = fields.List(fields.Nested(LedgerEntrySchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class AdjustmentSchema(Schema):
    user_id = fields.Integer(required=True, strict=True)
    amount = fields.Integer(required=True, strict=True, validate=[
        validate.Range(min=-MAX_ADJUSTMENT, max=MAX_ADJUSTMENT),
        validate.NoneOf([0], error="调整数量不能为 0")])
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))


class AdjustmentResultSchema(Schema):
    entry = fields.Nested(LedgerEntrySchema)
    balance = fields.Integer()


class PreferencesSchema(Schema):
    ranking_public = fields.Boolean(required=True, metadata={
        "description": "false：在每月一星排行中隐藏姓名（显示为“张**”）"})


class RankingArgs(Schema):
    period = fields.String(load_default="month", validate=validate.OneOf(["month"]))
    month = fields.String(load_default=None, validate=MONTH,
                          metadata={"description": "YYYY-MM，默认本月（北京时间）"})
    compound_id = fields.Integer(load_default=None)
    community_id = fields.Integer(load_default=None)
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))


class RankingItemSchema(Schema):
    rank = fields.Integer()
    name = fields.String()
    points = fields.Integer()
    masked = fields.Boolean()
    is_me = fields.Boolean()


class RankingScopeSchema(Schema):
    kind = fields.String()
    id = fields.Integer()
    name = fields.String()


class RankingSchema(Schema):
    period = fields.String()
    month = fields.String()
    scope = fields.Nested(RankingScopeSchema)
    items = fields.List(fields.Nested(RankingItemSchema))
    next_cursor = fields.String(allow_none=True)
