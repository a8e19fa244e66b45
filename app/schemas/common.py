"""Shared schemas: pagination arguments and page envelopes, bounded dates, masking helpers."""
from __future__ import annotations

import unicodedata

from marshmallow import Schema, ValidationError, fields, validate

# Every date or datetime a client sends lies in these years (inclusive): nothing in a
# community's life is older or further ahead, and far outside them Python's datetimes
# overflow (the year 1 shifted to UTC, the 31st of December 9999 plus a day).
FIRST_YEAR, LAST_YEAR = 2000, 2100
YEAR_RANGE = f"日期应在 {FIRST_YEAR} 年到 {LAST_YEAR} 年之间"
MONTH = validate.Regexp(r"^(20\d\d|2100)-(0[1-9]|1[0-2])$",
                        error=f"应为 YYYY-MM 格式的月份（{FIRST_YEAR}–{LAST_YEAR} 年）")


class PageArgs(Schema):
    cursor = fields.String(load_default=None, metadata={"description": "上一页返回的 next_cursor"})
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class Text(fields.String):
    """A string as people type it: trimmed; blank after trimming, or holding control
    characters (other than newlines and tabs where `multiline`), is refused."""

    def __init__(self, *args, multiline: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.allowed = {"\n", "\t"} if multiline else set()

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            raise ValidationError("此项不能为空")
        if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in self.allowed
               for ch in text):
            raise ValidationError("不能包含控制字符")
        return text


class _Bounded:
    """Refuses a date or datetime outside FIRST_YEAR..LAST_YEAR (as written, in its own
    offset: within those years no shift to UTC or day's arithmetic can overflow)."""

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        if not FIRST_YEAR <= moment.year <= LAST_YEAR:
            raise ValidationError(YEAR_RANGE)
        return moment


class Date(_Bounded, fields.Date):
    """A date between FIRST_YEAR and LAST_YEAR. Use this, never `fields.Date`, for input
    (tests/routes/test_bad_input.py checks every operation)."""


class DateTime(_Bounded, fields.DateTime):
    """A datetime between FIRST_YEAR and LAST_YEAR (input)."""


class AwareDateTime(_Bounded, fields.AwareDateTime):
    """A datetime with a time zone, between FIRST_YEAR and LAST_YEAR (input)."""


def page_of(item_schema: type[Schema]) -> type[Schema]:
    """`{"items": [...], "next_cursor": ...}` for an item schema."""
    return Schema.from_dict({
        "items": fields.List(fields.Nested(item_schema), required=True),
        "next_cursor": fields.String(allow_none=True, required=True),
    }, name=f"{item_schema.__name__.removesuffix('Schema')}Page")


def mask_phone(phone: str | None) -> str | None:
    """138****1234: enough for a person to recognise their own number, no more."""
    if not phone:
        return None
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


def labelled(value) -> dict | None:
    """A LabelledEnum member as `{"code": ..., "name": ...}`."""
    return None if value is None else {"code": value.value, "name": value.label}
