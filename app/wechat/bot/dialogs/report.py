"""报事 by message: category (numbered) → description → photo or 跳过 → location message or
我家地址 → confirm 1/0 → filed through app.services.incidents.filing.create_incident, the
same function as `POST /api/v1/incidents` (who may report, where, daily limit, content
check, routing, deadlines: nothing is decided here).

The photo (media download) and the filing (content check) call WeChat, so they are
deferred (app.wechat.bot.deferred: `photo` and `file` below) and answered by
customer-service message; meanwhile the session waits in `photo_wait` / `filing`.
"""
from __future__ import annotations

from app.errors import AppError
from app.extensions import db
from app.services.incidents import categories, filing
from app.wechat.bot import replies, sessions
from app.wechat.bot.dialogs.common import confused, number, resident_or_reason, when

FLOW = "report"
SKIP = {"跳过", "没有", "无", "不用", "没有照片"}
DESCRIPTION_MAX = 500


def begin(turn) -> str:
    user, why = resident_or_reason(turn)
    if user is None:
        return why
    kinds = categories.list_categories()
    if not kinds:
        return "暂时无法报事，请稍后再试。"
    sessions.start(turn.session, FLOW, "category",
                   {"codes": [k.code for k in kinds], "names": [k.name for k in kinds]})
    return _category_prompt(turn.session)


def _category_prompt(session) -> str:
    lines = [f"{i} {name}" for i, name in enumerate(session.data["names"], 1)]
    return "请选择问题类别（回复数字）：\n" + "\n".join(lines) + "\n回复“取消”可随时退出。"


def location_prompt(user) -> str:
    home = user.household.building.name if user is not None and user.household else None
    text = "请发送问题所在位置：点输入框旁的“+”，选择“位置”发送。"
    return text + (f"\n在自家楼栋（{home}）请回复 1（或“用我家地址”）。" if home else "")


def _summary(session) -> str:
    data = session.data
    place = data.get("label") or ("我家楼栋" if data.get("home") else "所发位置")
    photo = "1 张" if data.get("photo_ids") else "无"
    return (f"请确认报事内容：\n类别：{data['category_name']}\n描述：{data['description']}\n"
            f"照片：{photo}\n位置：{place}\n回复 1 确认提交，回复 0 取消。")


PROMPTS = {
    "category": _category_prompt,
    "description": lambda s: "请用文字描述一下问题，例如：3号楼门口路灯不亮。",
    "photo": lambda s: "请发送一张现场照片；没有照片请回复“跳过”。",
    "photo_wait": lambda s: "照片正在处理，请稍候…",
    "confirm": _summary,
    "filing": lambda s: "正在提交，请稍候…",
}


def prompt_again(turn) -> str:
    if turn.session.step == "location":
        return location_prompt(turn.user)
    return PROMPTS[turn.session.step](turn.session)


def step(turn) -> str | None:
    session, message = turn.session, turn.message
    current = session.step
    if current in ("photo_wait", "filing"):
        return replies.BUSY
    if current == "category":
        choice = number(turn)
        if choice is None or not 1 <= choice <= len(session.data["codes"]):
            return confused(turn, _category_prompt(session))
        sessions.go(session, "description", category=session.data["codes"][choice - 1],
                    category_name=session.data["names"][choice - 1])
        return PROMPTS["description"](session)
    if current == "description":
        text = message.content.strip() if message.kind == "text" else ""
        if not 2 <= len(text) <= DESCRIPTION_MAX:
            return confused(turn, f"请用文字描述问题（2 到 {DESCRIPTION_MAX} 个字）。")
        sessions.go(session, "photo", description=text)
        return PROMPTS["photo"](session)
    if current == "photo":
        if message.kind == "image" and message.media_id:
            sessions.go(session, "photo_wait")
            turn.defer("report_photo")
            return None
        if message.kind == "text" and message.content.strip() in SKIP:
            sessions.go(session, "location")
            return location_prompt(turn.user)
        return confused(turn, PROMPTS["photo"](session))
    if current == "location":
        if message.kind == "location":
            sessions.go(session, "confirm", lat=message.lat, lng=message.lng,
                        label=message.label[:40], home=False)
            return _summary(session)
        text = message.content.strip() if message.kind == "text" else ""
        if (text in ("1", "用我家地址", "我家", "家") and turn.user is not None
                and turn.user.household is not None):
            sessions.go(session, "confirm", home=True, lat=None, lng=None, label="")
            return _summary(session)
        return confused(turn, location_prompt(turn.user))
    if current == "confirm":
        choice = number(turn)
        if choice == 1:
            sessions.go(session, "filing")
            turn.defer("report_file")
            return None
        if choice == 0:
            sessions.end(session)
            return replies.CANCELLED
        return confused(turn, "回复 1 确认提交，回复 0 取消。")
    sessions.end(session)
    return replies.MENU


# --- deferred (app.wechat.bot.deferred): outside any transaction on entry -----------------

def file(user, data: dict) -> str:
    """File the report (one transaction, held by the caller); the answer to send."""
    incident = filing.create_incident(
        user, data["category"], data["description"], data.get("photo_ids") or [],
        lat=data.get("lat"), lng=data.get("lng"), building_id=None)
    db.session.flush()
    status = incident.status.label
    return (f"报事已提交，编号 {incident.id}（{status}）。\n"
            f"类别：{data['category_name']}\n"
            f"将在 {when(incident.respond_by)} 前响应，{when(incident.resolve_by)} 前办结。\n"
            f"回复“查 {incident.id}”查看进度。")


def refused(error: AppError) -> str:
    return f"报事未提交：{error.message}"
