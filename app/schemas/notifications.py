from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.schemas.common import PageArgs
from app.services.notifications import templates


class SubscriptionsSchema(Schema):
    template_keys = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                                required=True, validate=validate.Length(max=20),
                                metadata={"description": "用户同意的模板（每次同意一次额度）"})
    rejected_keys = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                                load_default=list, validate=validate.Length(max=20),
                                metadata={"description": "用户拒绝的模板"})


class CreditSchema(Schema):
    template_key = fields.String()
    remaining = fields.Integer()
    accepted_total = fields.Integer()
    rejected_total = fields.Integer()


class CreditListSchema(Schema):
    items = fields.List(fields.Nested(CreditSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True,
                                metadata={"description": "总是 null：一页列出全部"})


class SubscribeTemplateSchema(Schema):
    template_key = fields.String()
    template_id = fields.String(metadata={"description": "wx.requestSubscribeMessage 的 tmplIds"})
    title = fields.String()


class SubscribeTemplateListSchema(Schema):
    items = fields.List(fields.Nested(SubscribeTemplateSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True,
                                metadata={"description": "总是 null：一页列出全部"})


class ReadAllSchema(Schema):
    count = fields.Integer(metadata={"description": "本次标为已读的消息数"})


class InboxArgs(PageArgs):
    unread = fields.Boolean(load_default=False)


def _template(n):
    return templates.get(n.template_key)


class InboxItemSchema(Schema):
    id = fields.Integer()
    template_key = fields.String()
    title = fields.Function(lambda n: _template(n).title)
    text = fields.Function(lambda n: templates.inbox_text(_template(n), n.payload))
    page = fields.Function(lambda n: templates.page(_template(n), n.payload))
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)
