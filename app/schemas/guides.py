"""办事指南 schemas: entries (input and output), match previews, gaps, tickets."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.models.bot import ANSWER_MAX, TITLE_MAX
from app.schemas.common import Date, PageArgs, Text, labelled


class GuideEntryInput(Schema):
    community_id = fields.Integer(strict=True, load_default=None,
                                  metadata={"description": "默认：我所在的社区"})
    title = Text(required=True, validate=validate.Length(min=2, max=TITLE_MAX))
    synonyms = fields.List(Text(validate=validate.Length(min=2, max=TITLE_MAX)),
                           load_default=list, metadata={"description": "居民常用的其他问法"})
    answer = Text(required=True, multiline=True, validate=validate.Length(min=2, max=ANSWER_MAX))
    materials = Text(load_default=None, multiline=True, validate=validate.Length(max=1000))
    hours = Text(load_default=None, validate=validate.Length(max=120))
    place = Text(load_default=None, validate=validate.Length(max=120))
    department = Text(load_default=None, validate=validate.Length(max=60))
    updated_on = Date(load_default=None, metadata={"description": "信息核实日期，默认今天"})


class GuideEntryUpdate(GuideEntryInput):
    class Meta:
        exclude = ("community_id",)


class GuideEntrySchema(Schema):
    id = fields.Integer()
    community_id = fields.Integer()
    title = fields.String()
    synonyms = fields.List(fields.String())
    answer = fields.String()
    materials = fields.String(allow_none=True)
    hours = fields.String(allow_none=True)
    place = fields.String(allow_none=True)
    department = fields.String(allow_none=True)
    updated_on = fields.Date()
    active = fields.Boolean()


class GuideListArgs(PageArgs):
    community_id = fields.Integer(load_default=None)
    include_inactive = fields.Boolean(load_default=False)


class MatchArgs(Schema):
    q = Text(required=True, validate=validate.Length(min=1, max=300))
    community_id = fields.Integer(load_default=None)


class ScoredSchema(Schema):
    id = fields.Integer(attribute="entry_id")
    title = fields.String()
    score = fields.Float()


class MatchSchema(Schema):
    kind = fields.String(metadata={"description": "confident / unsure / none"})
    items = fields.List(fields.Nested(ScoredSchema))


class GapSchema(Schema):
    id = fields.Integer()
    question = fields.String()
    best_entry_id = fields.Integer(allow_none=True)
    score = fields.Float()
    resolved = fields.Boolean()
    created_at = fields.DateTime()


class TicketArgs(PageArgs):
    community_id = fields.Integer(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(["open", "answered"]))


class TicketSchema(Schema):
    id = fields.Integer()
    question = fields.String()
    status = fields.Function(lambda t: labelled(t.status))
    answer = fields.String(allow_none=True)
    bound = fields.Function(lambda t: t.user_id is not None,
                            metadata={"description": "提问者已绑定小程序账号"})
    created_at = fields.DateTime()
    answered_at = fields.DateTime(allow_none=True)


class TicketAnswerSchema(Schema):
    answer = Text(required=True, multiline=True, validate=validate.Length(min=1, max=ANSWER_MAX))
