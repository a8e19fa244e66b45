"""社区食堂: canteens and menus, booking and cancelling, check-in by pickup code, the kitchen
sheet, diner profiles and their flags."""
from __future__ import annotations

from app.routes.common import Blueprint, errors, idempotent
from app.schemas.canteen import (
    BookingArgs,
    BookingCancelSchema,
    BookingCreateSchema,
    BookingDetailSchema,
    BookingSchema,
    CanteenArgs,
    CanteenCreateSchema,
    CanteenSchema,
    CheckInSchema,
    CopyWeekResultSchema,
    CopyWeekSchema,
    DinerArgs,
    DinerCreateSchema,
    DinerSchema,
    DinerUpdateSchema,
    FlagInputSchema,
    KitchenSheetSchema,
    MealArgs,
    MealCancelSchema,
    MealCreateSchema,
    MealSchema,
    MealUpdateSchema,
    menu_item,
)
from app.schemas.common import page_of
from app.security import current_principal, current_user, login_required
from app.services.canteen import booking, diners, kitchen, menus

blp = Blueprint("canteen", __name__, url_prefix="/api/v1", description="社区食堂")

MEAL_INPUT = {404: "meal_not_found", 409: ["invalid_transition", "booking_closed", "meal_exists"],
              422: ["invalid_window", "invalid_cutoff", "cutoff_in_past", "meal_in_past",
                    "capacity_below_booked", "meal_has_bookings"]}


@blp.route("/canteens", methods=["GET"])
@login_required
@blp.arguments(CanteenArgs, location="query")
@blp.response(200, page_of(CanteenSchema))
@errors(codes={422: "invalid_cursor"})
def list_canteens(args):
    """Canteens of a community (default: my home's)"""
    return menus.list_canteens(current_user(), args["community_id"], args["cursor"],
                               args["limit"])


@blp.route("/canteens", methods=["POST"])
@login_required
@idempotent
@blp.arguments(CanteenCreateSchema)
@blp.response(201, CanteenSchema)
@errors(403, codes={404: "community_not_found"})
def create_canteen(payload):
    """Community staff: open a canteen"""
    return menus.create_canteen(current_user(), payload)


@blp.route("/canteens/<int:canteen_id>/meals", methods=["GET"])
@login_required(principal=True)
@blp.arguments(MealArgs, location="query")
# A hot read: `menu_item()` builds the items (no second pass through marshmallow);
# the schema documents them.
@blp.response(200)
@blp.doc(responses={"200": {"description": "OK", "content": {"application/json": {
    "schema": {"type": "array", "items": MealSchema}}}}})
@errors(codes={404: "canteen_not_found"})
def list_meals(args, canteen_id):
    """A day's meals with the price for me and the seats left"""
    return [menu_item(meal, quote) for meal, quote in
            menus.list_meals(current_principal(), canteen_id, args["date"])]


@blp.route("/canteens/<int:canteen_id>/meals", methods=["POST"])
@login_required
@idempotent
@blp.arguments(MealCreateSchema)
@blp.response(201, MealSchema)
@errors(403, codes={404: "canteen_not_found", **MEAL_INPUT})
def create_meal(payload, canteen_id):
    """Canteen or community staff: plan a meal (a draft until published)"""
    return menus.create_meal(current_user(), canteen_id, payload)


@blp.route("/canteens/<int:canteen_id>/meals/copy-last-week", methods=["POST"])
@login_required
@idempotent
@blp.arguments(CopyWeekSchema)
@blp.response(201, CopyWeekResultSchema)
@errors(403, codes={404: "canteen_not_found", 422: "not_monday"})
def copy_last_week(payload, canteen_id):
    """Canteen or community staff: copy the previous week's menu into a week, as drafts"""
    return menus.copy_last_week(current_user(), canteen_id, payload["week_start"])


@blp.route("/meals/<int:meal_id>", methods=["PUT"])
@login_required
@blp.arguments(MealUpdateSchema)
@blp.response(200, MealSchema)
@errors(403, codes=MEAL_INPUT)
def update_meal(payload, meal_id):
    """Canteen or community staff: change a draft or published meal"""
    return menus.update_meal(current_user(), meal_id, payload)


@blp.route("/meals/<int:meal_id>/publish", methods=["POST"])
@login_required
@blp.response(200, MealSchema)
@errors(403, codes={404: "meal_not_found", 409: ["invalid_transition", "booking_closed"]})
def publish(meal_id):
    """Canteen or community staff: open a meal for booking"""
    return menus.publish(current_user(), meal_id)


@blp.route("/meals/<int:meal_id>/cancel", methods=["POST"])
@login_required
@blp.arguments(MealCancelSchema)
@blp.response(200, MealSchema)
@errors(403, codes={404: "meal_not_found", 409: "invalid_transition"})
def cancel_meal(payload, meal_id):
    """Canteen or community staff: cancel a meal; every booking is cancelled and refunded
    and every diner told"""
    return menus.cancel(current_user(), meal_id, payload["reason"])


@blp.route("/meals/<int:meal_id>/kitchen", methods=["GET"])
@login_required
@blp.response(200, KitchenSheetSchema)
@errors(403, codes={404: "meal_not_found"})
def kitchen_sheet(meal_id):
    """Canteen staff: portions by dish, tier, pickup/delivery; frozen at the cutoff"""
    return kitchen.sheet(current_user(), meal_id)


@blp.route("/bookings", methods=["POST"])
@login_required
@idempotent
@blp.arguments(BookingCreateSchema)
@blp.response(201, BookingDetailSchema)
@errors(codes={403: ["not_resident", "not_community_member"],
               404: ["meal_not_found", "diner_not_found"],
               409: ["booking_closed", "meal_cancelled", "meal_full", "already_booked",
                     "insufficient_points", "booking_suspended"],
               422: ["quantity_over_limit", "delivery_unavailable", "pickup_unavailable"],
               503: "pickup_code_exhausted"})
def book(payload):
    """Book a meal for me or (代订) for a diner: a 6-digit pickup code and its QR code"""
    return booking.book(current_user(), payload)


@blp.route("/bookings", methods=["GET"])
@login_required
@blp.arguments(BookingArgs, location="query")
@blp.response(200, page_of(BookingSchema))
@errors(codes={422: "invalid_cursor"})
def my_bookings(args):
    """Bookings I made or that are for me, newest first"""
    return booking.my_bookings(current_user(), args["state"], args["cursor"], args["limit"])


@blp.route("/bookings/<int:booking_id>", methods=["GET"])
@login_required
@blp.response(200, BookingDetailSchema)
@errors(codes={404: "booking_not_found"})
def booking_detail(booking_id):
    """One booking with its pickup QR code"""
    return booking.detail(current_user(), booking_id)


@blp.route("/bookings/<int:booking_id>/cancel", methods=["POST"])
@login_required
@blp.arguments(BookingCancelSchema)
@blp.response(200, BookingSchema)
@errors(403, codes={404: "booking_not_found",
                    409: ["invalid_transition", "booking_closed", "meal_cancelled"],
                    422: "reason_required"})
def cancel_booking(payload, booking_id):
    """The booker or diner until the cutoff (points back); canteen staff any time with a
    reason"""
    return booking.cancel(current_user(), booking_id, payload["reason"])


@blp.route("/bookings/check-in", methods=["POST"])
@login_required
@blp.arguments(CheckInSchema)
@blp.response(200, BookingSchema)
@errors(403, codes={404: "booking_not_found",
                    409: ["already_checked_in", "invalid_transition", "outside_pickup_window",
                          "not_meal_day", "ambiguous_pickup_code"],
                    422: "invalid_pickup_code"})
def check_in(payload):
    """Canteen staff: hand a meal over against its pickup code (or QR payload), once"""
    return kitchen.check_in(current_user(), payload["pickup_code"], payload["canteen_id"])


@blp.route("/diners", methods=["GET"])
@login_required
@blp.arguments(DinerArgs, location="query")
@blp.response(200, DinerSchema(many=True))
@errors(codes={404: "household_not_found"})
def list_diners(args):
    """A household's diners (default mine): whom I may book for"""
    return diners.list_diners(current_user(), args["household_id"])


@blp.route("/diners", methods=["POST"])
@login_required
@idempotent
@blp.arguments(DinerCreateSchema)
@blp.response(201, DinerSchema)
@errors(403, codes={404: "household_not_found", 409: "diner_exists",
                    422: "not_household_member"})
def create_diner(payload):
    """Community staff: record a diner of a household (with or without an account)"""
    return diners.create(current_user(), payload)


@blp.route("/diners/<int:diner_id>", methods=["PUT"])
@login_required
@blp.arguments(DinerUpdateSchema)
@blp.response(200, DinerSchema)
@errors(403, codes={404: "diner_not_found"})
def update_diner(payload, diner_id):
    """Community staff: correct a diner's name or birth year"""
    return diners.update(current_user(), diner_id, payload)


@blp.route("/diners/<int:diner_id>/flags/<kind>", methods=["PUT"])
@login_required
@blp.arguments(FlagInputSchema)
@blp.response(200, DinerSchema)
@errors(403, codes={404: "diner_not_found", 422: "unknown_category"})
def set_flag(payload, diner_id, kind):
    """Community staff: verify a category (dibao, tekun, dibao_edge, disabled_care,
    disability) with its evidence and expiry"""
    return diners.set_flag(current_user(), diner_id, kind, payload)


@blp.route("/diners/<int:diner_id>/flags/<kind>", methods=["DELETE"])
@login_required
@blp.response(200, DinerSchema)
@errors(403, codes={404: ["diner_not_found", "flag_not_found"], 422: "unknown_category"})
def remove_flag(diner_id, kind):
    """Community staff: withdraw a category"""
    return diners.remove_flag(current_user(), diner_id, kind)
