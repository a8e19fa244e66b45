"""Read-only answers, each through the API's own service: 查进度 (my last three reports,
`queries.list_incidents(scope="mine")`), 查 123 (`queries.detail`, so one of mine or one
the public view shows me, never another's), 积分 (`ledger.ledger`), 心愿 (the wish wall of
my compound, `wishes.queries.list_wishes(scope="wall")`), 食堂菜单 (today's and tomorrow's
meals of my community's canteen with seats left and my price, `canteen.menus.list_meals`;
booking by message is app.wechat.bot.dialogs.canteen), 公示 (my compound's latest published notice as text,
`notices.queries.list_notices` and `notices.view.plain_text`).
"""
from __future__ import annotations

from datetime import timedelta

from app import timeutil
from app.errors import AppError
from app.services.incidents import queries
from app.services.permissions import Principal
from app.services.points import ledger
from app.services.wishes import queries as wish_queries
from app.wechat.bot import replies
from app.wechat.bot.dialogs import guide
from app.wechat.bot.dialogs.common import when
from app.wechat.bot.wire import REPLY_MAX

RECENT = 3
WISHES_SHOWN = 5


def _bound(turn):
    return turn.user, (None if turn.user is not None else replies.bind_link())


def my_incidents(turn) -> str:
    user, why = _bound(turn)
    if user is None:
        return why
    rows = queries.list_incidents(user, "mine", None, RECENT)["items"]
    if not rows:
        return "您还没有报过事。回复 1 开始报事。"
    lines = [f"编号 {row['id']}｜{row['category_name']}｜{row['status'].label}\n"
             f"  {row['description'][:30]}（{when(row['created_at'])}）" for row, _full in rows]
    return "您最近的报事：\n" + "\n".join(lines) + "\n回复“查 编号”查看详情，如“查 " \
        f"{rows[0][0]['id']}”。"


def one_incident(turn, incident_id: int) -> str:
    user, why = _bound(turn)
    if user is None:
        return why
    try:
        found = queries.detail(user, incident_id)
    except AppError:
        return f"没有找到编号 {incident_id} 的报事（只能查看您自己的或本小区公开的）。"
    row = found.row
    last = found.events[-1] if found.events else None
    step = f"\n最新进展：{when(last.created_at)}" if last is not None else ""
    return (f"编号 {row['id']}｜{row['category_name']}｜{row['status'].label}\n"
            f"{row['description'][:80]}\n"
            f"响应期限：{when(row['respond_by'])}，办结期限：{when(row['resolve_by'])}{step}")


def points(turn) -> str:
    user, why = _bound(turn)
    if user is None:
        return why
    page = ledger.ledger(user, None, RECENT)
    lines = [f"{'+' if e.amount > 0 else ''}{e.amount}｜{e.description[:24]}（{when(e.created_at)}）"
             for e in page["items"]]
    recent = ("\n最近记录：\n" + "\n".join(lines)) if lines else "\n暂无积分记录。"
    return f"您的积分余额：{page['balance']} 分。{recent}"


def wishes(turn) -> str:
    user, why = _bound(turn)
    if user is None:
        return why
    if user.household is None:
        return replies.bind_link()
    compound_id = user.household.building.compound_id
    try:
        page = wish_queries.list_wishes(user, "wall", None, WISHES_SHOWN, status="published",
                                        compound_id=compound_id)
    except AppError as error:
        return error.message
    if not page["items"]:
        return "本小区暂时没有待认领的微心愿。"
    lines = [f"{i}. {_title(view)}" for i, view in enumerate(page["items"], 1)]
    return "本小区待认领的微心愿：\n" + "\n".join(lines) + "\n认领请打开小程序“微心愿”。"


def _title(view) -> str:
    # The wish list's views carry a row (its list columns) or, in older code, the wish.
    row = getattr(view, "row", None)
    return row["title"] if row is not None else view.wish.title


def canteen(turn) -> str:
    """A bound follower: my community's canteen with my price. A follower not yet bound
    whose QR code named a compound: that community's canteen at the base price (no
    bookings, no subsidy: both need a verified household), and the link to bind."""
    from app.services.canteen import menus

    viewer, community_id = turn.user, None
    if viewer is None:
        community_id = guide.community_id(turn)
        if community_id is None:
            return replies.bind_link()
        viewer = Principal(0, None, None, None, ())  # nobody: no booking, no tier
    canteens = menus.list_canteens(viewer, community_id, None, 1)["items"]
    if not canteens:
        return replies.NOT_OPEN
    today, price = timeutil.today(), "我的价格" if turn.user is not None else "价格"
    parts = [f"{canteens[0].name}菜单："]
    for label, day in (("今天", today), ("明天", today + timedelta(days=1))):
        meals = [(m, quote) for m, quote in menus.list_meals(viewer, canteens[0].id, day)
                 if m.state.value in ("published", "closed")]  # (row, the price for me)
        lines = [f"{m.kind.label}：{'、'.join(m.dishes[:6])}｜{_seats(m)}"
                 f"｜{price} {quote.amount_fen / 100:.2f} 元" for m, quote in meals]
        parts.append(f"【{label}】" + ("\n" + "\n".join(lines) if lines else "暂无"))
    if turn.user is None:
        return "\n".join(parts) + "\n订餐和助餐优惠需先绑定住址。" + replies.bind_link()
    return "\n".join(parts) + "\n回复“订餐”预订 1 份（到店付款）；更多选择请打开小程序“社区食堂”。"


def _seats(meal) -> str:
    if meal.state.value != "published":
        return "已截止"
    return f"余 {max(meal.capacity - meal.booked_count, 0)} 份"


def notice(turn) -> str:
    user, why = _bound(turn)
    if user is None:
        return why
    if user.household is None:
        return replies.bind_link()
    from app.services.notices import queries as notice_queries
    from app.services.notices import view

    found = notice_queries.list_notices(user, None, None, 1)["items"]
    if not found:
        return "本小区暂未发布公示。"
    text = view.plain_text(found[0]).strip()
    limit = REPLY_MAX - 20
    return text if len(text) <= limit else text[:limit] + "…\n（完整内容请在小程序查看）"
