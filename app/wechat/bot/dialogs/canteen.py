"""订餐 by message: today's and tomorrow's bookable meals (numbered) → confirm 1/0 → booked
through app.services.canteen.booking.book, the same function as `POST /api/v1/bookings`
(cutoff, seats, suspension, price: nothing is decided here), one portion paid at the
counter; the answer carries the pickup code. More portions, points or delivery: the
mini-program.

`book` commits on its own: here its commit is held (`holding_commits`) and run in a
savepoint, so the booking commits with the message's dedupe row, and a refusal rolls back
only the booking's own writes.
"""
from __future__ import annotations

from datetime import timedelta

from app import timeutil
from app.errors import AppError
from app.extensions import db
from app.services.canteen import booking, menus
from app.services.idempotency import holding_commits
from app.wechat.bot import replies, sessions
from app.wechat.bot.dialogs.common import confused, number, when

FLOW = "canteen"


def begin(turn) -> str:
    user = turn.user
    if user is None or user.household is None:
        return replies.bind_link()
    canteens = menus.list_canteens(user, None, None, 1)["items"]
    if not canteens:
        return replies.NOT_OPEN
    now, today = timeutil.local(), timeutil.today()
    choices = []
    for label, day in (("今天", today), ("明天", today + timedelta(days=1))):
        for meal, quote in menus.list_meals(user, canteens[0].id, day):  # (row, my price)
            open_ = meal.state.value == "published" and meal.cutoff_at > now
            if open_ and meal.capacity > meal.booked_count:
                choices.append((meal.id, f"{label}{meal.kind.label}：{'、'.join(meal.dishes[:4])}"
                                f"｜{quote.amount_fen / 100:.2f} 元"
                                f"｜{when(meal.cutoff_at)} 前可订"))
    if not choices:
        return "今天和明天暂时没有可预订的餐。"
    sessions.start(turn.session, FLOW, "meal", {"ids": [c[0] for c in choices],
                                               "labels": [c[1] for c in choices]})
    lines = [f"{i} {text}" for i, (_id, text) in enumerate(choices, 1)]
    return "请选择要预订的餐（回复数字，1 份，到店付款）：\n" + "\n".join(lines)


def prompt_again(turn) -> str:
    if turn.session.step == "meal":
        return "回复数字选择要预订的餐。"
    return "回复 1 确认预订，回复 0 取消。"


def step(turn) -> str:
    session = turn.session
    choice = number(turn)
    if session.step == "meal":
        ids = session.data.get("ids") or []
        if choice is None or not 1 <= choice <= len(ids):
            return confused(turn, prompt_again(turn))
        label = session.data["labels"][choice - 1]
        sessions.go(session, "confirm", meal_id=ids[choice - 1], label=label)
        return f"预订 {label}，1 份，到店付款。\n回复 1 确认预订，回复 0 取消。"
    if choice == 0:
        sessions.end(session)
        return replies.CANCELLED
    if choice != 1:
        return confused(turn, prompt_again(turn))
    meal_id = session.data["meal_id"]
    sessions.end(session)
    try:
        with holding_commits(), db.session.begin_nested():
            made = booking.book(turn.user, {"meal_id": meal_id, "quantity": 1,
                                            "pay_with": "counter", "delivery": False})
    except AppError as error:
        return f"预订未成功：{error.message}"
    return (f"预订成功！取餐码 {made.pickup_code}。\n请于 {when(made.meal.pickup_starts_at)} 到 "
            f"{when(made.meal.pickup_ends_at)} 凭取餐码到店取餐，到店付款 "
            f"{made.amount_fen / 100:.2f} 元。")
