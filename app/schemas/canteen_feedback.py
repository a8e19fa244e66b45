"""Schemas of the canteen's feedback box (民意反馈箱), its monthly ratings and the monthly
subsidy report's arguments. Statuses come from the enum; output is dumped from
`app.services.canteen.feedback.view()`'s dicts."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.models import FeedbackStatus
from app.schemas.common import MONTH, PageArgs, Text, labelled
from app.services.canteen.feedback import MODERATION

TEXT_MAX = 500
STATUSES = [status.value for status in FeedbackStatus]


class FeedbackCreateSchema(Schema):
    rating = fields.Integer(required=True, strict=True, validate=validate.Range(
        min=1, max=5, error="评分应为 1 到 5 分"), metadata={"description": "1–5 分"})
    text = Text(load_default=None, multiline=True, validate=validate.Length(max=TEXT_MAX),
                metadata={"description": "意见和建议（可不填），经内容安全检查"})
    anonymous = fields.Boolean(load_default=False,
                               metadata={"description": "匿名：工作人员看不到是谁写的"})


class FeedbackReplySchema(Schema):
    reply = Text(required=True, multiline=True, validate=validate.Length(min=1, max=TEXT_MAX))


class FeedbackModerationSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(
        list(MODERATION), error="应为 release（公开）或 hide（隐藏）"),
        metadata={"description": "release：公开待审核的意见；hide：隐藏待审核或已公开的意见"})


class FeedbackListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))


class FeedbackAuthorSchema(Schema):
    id = fields.Integer()
    nickname = fields.String(allow_none=True)


class FeedbackSchema(Schema):
    id = fields.Integer()
    canteen_id = fields.Integer()
    rating = fields.Integer()
    text = fields.String(allow_none=True)
    anonymous = fields.Boolean()
    status = fields.Function(lambda f: labelled(f["status"]))
    author = fields.Nested(FeedbackAuthorSchema, allow_none=True,
                           metadata={"description": "匿名意见为 null（本人查看时除外）"})
    mine = fields.Boolean()
    reply = fields.String(allow_none=True)
    replied_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class RatingsArgs(Schema):
    months = fields.Integer(load_default=12, validate=validate.Range(min=1, max=24))
    until = fields.String(load_default=None, validate=MONTH,
                          metadata={"description": "最后一个月 YYYY-MM，默认本月"})


class RatingMonthSchema(Schema):
    month = fields.String()
    count = fields.Integer()
    average = fields.Float(allow_none=True)


class RatingsSchema(Schema):
    canteen_id = fields.Integer()
    items = fields.List(fields.Nested(RatingMonthSchema))


class SubsidyReportArgs(Schema):
    month = fields.String(required=True, validate=MONTH, metadata={"description": "YYYY-MM"})


class SuspensionListArgs(PageArgs):
    community_id = fields.Integer(required=True)


class SuspensionSchema(Schema):
    """A self-booking suspension (`noshows.list_active`, `noshows.lift`)."""
    id = fields.Integer()
    user = fields.Nested(FeedbackAuthorSchema)
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    reason = fields.String()
    no_show_count = fields.Integer()
    lifted_at = fields.DateTime(allow_none=True)
