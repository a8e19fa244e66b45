"""社区食堂: canteens, meals (with the price for me), bookings, check-in, the kitchen sheet,
diner profiles and their flags."""
from __future__ import annotations

import re
from datetime import time

from marshmallow import Schema, ValidationError, fields, validate

from app import timeutil
from app.models import BookingState, DinerCategory, MealKind, PayWith
from app.schemas.common import Date, PageArgs, Text, labelled
from app.services.canteen import eligibility

KINDS = [k.value for k in MealKind]
PAY_WITH = [p.value for p in PayWith]
BOOKING_STATES = [s.value for s in BookingState]
CATEGORIES = [c.value for c in DinerCategory]
MAX_PRICE_FEN = 100_000  # 1000 元 a portion: anything above is a typo
MAX_CAPACITY = 10_000


class ClockTime(fields.String):
    """A local wall-clock time "HH:MM" (a time of day has no year to bound)."""

    PATTERN = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])\Z")

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        found = self.PATTERN.match(text)
        if not found:
            raise ValidationError("应为 HH:MM 格式的时间（北京时间）")
        return time(int(found[1]), int(found[2]))


def _tier(key: str) -> dict:
    return {"key": key, "name": eligibility.tier_names().get(key, key)}


# --- canteens ---------------------------------------------------------------------------

class CanteenCreateSchema(Schema):
    community_id = fields.Integer(required=True, strict=True)
    name = Text(required=True, validate=validate.Length(max=64))
    address = Text(required=True, validate=validate.Length(max=200))
    opening_hours = Text(load_default=None, validate=validate.Length(max=200))
    pickup = fields.Boolean(load_default=True)
    delivery = fields.Boolean(load_default=False)
    run_by = Text(load_default=None, validate=validate.Length(max=100),
                  metadata={"description": "运营方，如“社区+爱心企业”"})


class CanteenSchema(Schema):
    id = fields.Integer()
    community_id = fields.Integer()
    name = fields.String()
    address = fields.String()
    opening_hours = fields.String(allow_none=True)
    pickup = fields.Boolean(metadata={"description": "可到店取餐"})
    delivery = fields.Boolean(metadata={"description": "可送餐上门"})
    run_by = fields.String(allow_none=True)


class CanteenArgs(PageArgs):
    community_id = fields.Integer(load_default=None)


# --- meals ------------------------------------------------------------------------------

class MealCreateSchema(Schema):
    day = Date(required=True, metadata={"description": "用餐日期（北京时间）"})
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    dishes = fields.List(Text(validate=validate.Length(max=40)), required=True,
                         validate=validate.Length(min=1, max=20))
    capacity = fields.Integer(required=True, strict=True,
                              validate=validate.Range(min=1, max=MAX_CAPACITY))
    price_fen = fields.Integer(required=True, strict=True,
                               validate=validate.Range(min=0, max=MAX_PRICE_FEN))
    cutoff_date = Date(load_default=None, metadata={"description": "截止日期，默认用餐当天"})
    cutoff_time = ClockTime(required=True, metadata={"description": "订餐截止（北京时间）"})
    pickup_start = ClockTime(required=True)
    pickup_end = ClockTime(required=True)


class MealUpdateSchema(Schema):
    day = Date()
    kind = fields.String(validate=validate.OneOf(KINDS))
    dishes = fields.List(Text(validate=validate.Length(max=40)),
                         validate=validate.Length(min=1, max=20))
    capacity = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_CAPACITY))
    price_fen = fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_PRICE_FEN))
    cutoff_date = Date()
    cutoff_time = ClockTime()
    pickup_start = ClockTime()
    pickup_end = ClockTime()


class PriceSchema(Schema):
    tier = fields.Function(lambda q: {"key": q.tier.key, "name": q.tier.name})
    unit_price_fen = fields.Integer()
    subsidy_fen = fields.Integer(metadata={"description": "本人一份的补贴"})
    amount_fen = fields.Integer(metadata={"description": "本人一份应付"})


class MealBaseSchema(Schema):
    id = fields.Integer()
    canteen_id = fields.Integer()
    day = fields.Date()
    kind = fields.Function(lambda m: labelled(m.kind))
    dishes = fields.List(fields.String())
    capacity = fields.Integer()
    booked_count = fields.Integer()
    seats_left = fields.Integer(metadata={"description": "剩余份数，从不为负"})
    price_fen = fields.Integer(metadata={"description": "每份原价（分）"})
    cutoff_at = fields.DateTime()
    pickup_starts_at = fields.DateTime()
    pickup_ends_at = fields.DateTime()
    state = fields.Function(lambda m: labelled(m.state))
    cancel_reason = fields.String(allow_none=True)


class MealSchema(MealBaseSchema):
    price_for_me = fields.Nested(PriceSchema, allow_none=True,
                                 metadata={"description": "我的价格（按我的助餐档位）"})
    my_booking_id = fields.Integer(allow_none=True)


def menu_item(meal, quote) -> dict:
    """A meal of `menus.list_meals()` (a row and the price for me) as `MealSchema` dumps
    it, built directly: the day's menu is a hot read; the schema documents it."""
    return {"id": meal.id, "canteen_id": meal.canteen_id, "day": meal.day,
            "kind": labelled(meal.kind), "dishes": meal.dishes, "capacity": meal.capacity,
            "booked_count": meal.booked_count,
            "seats_left": max(meal.capacity - meal.booked_count, 0),
            "price_fen": meal.price_fen, "cutoff_at": meal.cutoff_at,
            "pickup_starts_at": meal.pickup_starts_at, "pickup_ends_at": meal.pickup_ends_at,
            "state": labelled(meal.state), "cancel_reason": meal.cancel_reason,
            "price_for_me": {"tier": {"key": quote.tier.key, "name": quote.tier.name},
                             "unit_price_fen": quote.unit_price_fen,
                             "subsidy_fen": quote.subsidy_fen, "amount_fen": quote.amount_fen},
            "my_booking_id": meal.my_booking_id}


class MealArgs(Schema):
    date = Date(load_default=None, metadata={"description": "YYYY-MM-DD，默认今天（北京时间）"})


class MealCancelSchema(Schema):
    reason = Text(required=True, validate=validate.Length(max=200))


class CopyWeekSchema(Schema):
    week_start = Date(load_default=None, metadata={"description": "目标周的周一，默认下周一"})


class CopyWeekResultSchema(Schema):
    items = fields.List(fields.Nested(MealSchema))
    skipped = fields.Integer()


# --- bookings ---------------------------------------------------------------------------

class BookingCreateSchema(Schema):
    meal_id = fields.Integer(required=True, strict=True)
    quantity = fields.Integer(required=True, strict=True,
                              validate=validate.Range(min=1, max=99))
    pay_with = fields.String(required=True, validate=validate.OneOf(PAY_WITH))
    diner_id = fields.Integer(load_default=None, strict=True,
                              metadata={"description": "代订时的用餐人；不填为本人"})
    delivery = fields.Boolean(load_default=False)


class CanteenRefSchema(Schema):
    id = fields.Integer()
    name = fields.String()


class MealRefSchema(Schema):
    id = fields.Integer()
    canteen = fields.Nested(CanteenRefSchema)
    day = fields.Date()
    kind = fields.Function(lambda m: labelled(m.kind))
    cutoff_at = fields.DateTime()
    pickup_starts_at = fields.DateTime()
    pickup_ends_at = fields.DateTime()


class DinerRefSchema(Schema):
    id = fields.Integer()
    name = fields.String()


class BookingSchema(Schema):
    id = fields.Integer()
    meal = fields.Nested(MealRefSchema)
    diner = fields.Nested(DinerRefSchema)
    booker_id = fields.Integer()
    proxy = fields.Function(lambda b: b.diner.user_id != b.booker_id,
                            metadata={"description": "代订"})
    quantity = fields.Integer()
    tier = fields.Function(lambda b: _tier(b.tier))
    unit_price_fen = fields.Integer()
    subsidy_fen = fields.Integer()
    amount_fen = fields.Integer(metadata={"description": "应付金额（分）"})
    pay_with = fields.Function(lambda b: labelled(b.pay_with))
    points_spent = fields.Integer()
    delivery = fields.Boolean()
    delivery_address = fields.Function(
        lambda b: b.delivery_address if getattr(b, "show_address", True) else None,
        metadata={"description": "送餐地址（仅订餐人、用餐人和食堂工作人员可见）"})
    pickup_code = fields.String(metadata={"description": "6 位取餐码"})
    qr_payload = fields.String(metadata={"description": "取餐二维码内容 linli:booking:<code>"})
    state = fields.Function(lambda b: labelled(b.state))
    created_at = fields.DateTime()
    checked_in_at = fields.DateTime(allow_none=True)
    cancelled_at = fields.DateTime(allow_none=True)
    cancel_reason = fields.String(allow_none=True)


class BookingDetailSchema(BookingSchema):
    qr_svg = fields.String(allow_none=True, metadata={"description": "取餐二维码（SVG）"})


class BookingArgs(PageArgs):
    state = fields.String(load_default=None, validate=validate.OneOf(BOOKING_STATES))


class BookingCancelSchema(Schema):
    reason = Text(load_default=None, validate=validate.Length(max=200),
                  metadata={"description": "工作人员取消时必填"})


class CheckInSchema(Schema):
    pickup_code = fields.String(required=True, validate=validate.Length(max=64),
                                metadata={"description": "6 位取餐码或二维码内容"})
    canteen_id = fields.Integer(load_default=None, strict=True)


# --- the kitchen sheet ------------------------------------------------------------------

class CountSchema(Schema):
    bookings = fields.Integer()
    portions = fields.Integer()


class DishCountSchema(Schema):
    name = fields.String()
    portions = fields.Integer()


class TierCountSchema(CountSchema):
    key = fields.String()
    name = fields.String()
    subsidy_fen = fields.Integer()


class DeliverySchema(Schema):
    booking_id = fields.Integer()
    diner = fields.String()
    quantity = fields.Integer()
    address = fields.String()
    pickup_code = fields.String()
    state = fields.Function(lambda d: labelled(d["state"]))


class KitchenSheetSchema(Schema):
    meal = fields.Nested(MealBaseSchema)
    frozen = fields.Boolean(metadata={"description": "已截止：数量按截止时固定"})
    as_of = fields.DateTime()
    bookings = fields.Integer()
    portions = fields.Integer()
    dishes = fields.List(fields.Nested(DishCountSchema))
    tiers = fields.List(fields.Nested(TierCountSchema))
    pickup = fields.Nested(CountSchema)
    delivery = fields.Nested(CountSchema)
    deliveries = fields.List(fields.Nested(DeliverySchema),
                             metadata={"description": "送餐名单（仅食堂工作人员可见）"})


# --- diners -----------------------------------------------------------------------------

class DinerArgs(Schema):
    household_id = fields.Integer(load_default=None)


class DinerCreateSchema(Schema):
    household_id = fields.Integer(required=True, strict=True)
    name = Text(required=True, validate=validate.Length(max=32))
    birth_year = fields.Integer(load_default=None, strict=True,
                                validate=validate.Range(min=1890, max=2100))
    user_id = fields.Integer(load_default=None, strict=True)


class DinerUpdateSchema(Schema):
    name = Text(validate=validate.Length(max=32))
    birth_year = fields.Integer(allow_none=True, strict=True,
                                validate=validate.Range(min=1890, max=2100))


class FlagInputSchema(Schema):
    evidence = Text(required=True, validate=validate.Length(max=200),
                    metadata={"description": "证明材料，如低保证编号"})
    expires_on = Date(load_default=None, metadata={"description": "有效期至（含当天）"})


def _flags(diner) -> list[dict]:
    today = timeutil.today()
    show = getattr(diner, "show_evidence", False)
    return [{"kind": labelled(f.kind), "expires_on": f.expires_on and f.expires_on.isoformat(),
             "active": f.expires_on is None or f.expires_on >= today,
             "verified_at": f.verified_at.isoformat(),
             **({"evidence": f.evidence, "verified_by_id": f.verified_by_id} if show else {})}
            for f in diner.flags]


class DinerSchema(Schema):
    id = fields.Integer()
    household_id = fields.Integer()
    user_id = fields.Integer(allow_none=True)
    name = fields.String()
    birth_year = fields.Integer(allow_none=True)
    flags = fields.Function(_flags, metadata={"description": "认定类别；证明材料仅社区工作人员可见"})
    tier = fields.Function(lambda d: _tier(eligibility.best_tier(d, timeutil.today()).key),
                           metadata={"description": "今天适用的助餐档位"})
