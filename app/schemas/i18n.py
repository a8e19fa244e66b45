"""Simplified-Chinese validation messages for marshmallow, applied once at import.

Field errors reach users through the envelope's `errors`, so they are Chinese like the rest.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

FIELD_MESSAGES = {
    fields.Field: {"required": "此项为必填项", "null": "此项不能为空",
                   "validator_failed": "取值无效"},
    fields.String: {"invalid": "应为文本", "invalid_utf8": "不是有效的 UTF-8 文本"},
    fields.Number: {"invalid": "应为数字", "too_large": "数字过大"},
    fields.Integer: {"invalid": "应为整数"},
    fields.Float: {"special": "不允许 NaN 或无穷大"},
    fields.Decimal: {"special": "不允许 NaN 或无穷大"},
    fields.Boolean: {"invalid": "应为布尔值 true 或 false"},
    fields.DateTime: {"invalid": "时间格式无效", "invalid_awareness": "时间格式无效",
                      "format": "时间格式无效"},
    fields.Date: {"invalid": "日期格式无效", "format": "日期格式无效"},
    fields.List: {"invalid": "应为列表"},
    fields.Dict: {"invalid": "应为对象"},
    fields.Nested: {"type": "应为对象"},
    fields.Email: {"invalid": "邮箱格式无效"},
    fields.URL: {"invalid": "网址格式无效"},
}


def apply() -> None:
    for field_cls, messages in FIELD_MESSAGES.items():
        field_cls.default_error_messages = {**field_cls.default_error_messages, **messages}
    Schema._default_error_messages = {**Schema._default_error_messages,
                                      "unknown": "不支持的字段", "type": "应为 JSON 对象"}
    validate.Range.message_min = "应{min_op} {{min}}"
    validate.Range.message_max = "应{max_op} {{max}}"
    validate.Range.message_all = "应{min_op} {{min}} 且{max_op} {{max}}"
    validate.Range.message_gte, validate.Range.message_gt = "大于或等于", "大于"
    validate.Range.message_lte, validate.Range.message_lt = "小于或等于", "小于"
    validate.Length.message_min = "长度不能少于 {min}"
    validate.Length.message_max = "长度不能超过 {max}"
    validate.Length.message_all = "长度应在 {min} 到 {max} 之间"
    validate.Length.message_equal = "长度应为 {equal}"
    validate.OneOf.default_message = "应为以下之一：{choices}"
    validate.Regexp.default_message = "格式不正确"
    validate.Equal.default_message = "应等于 {other}"


apply()
