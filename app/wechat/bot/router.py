"""Where a message goes: events, the words that work at every step (取消, 帮助, 人工), the
flow in progress, else the main menu's numbers and keywords, else the 办事指南 catalog.

Each dialog (app.wechat.bot.dialogs) is a module with `begin(turn)` and `step(turn)`
returning the passive text reply (None: nothing now, the message was deferred). Dialog steps
call the same services as the API and never write a rule of their own.
"""
from __future__ import annotations

import re

from app.models.base import utcnow
from app.wechat.bot import deliver, replies, sessions
from app.wechat.bot.dialogs import canteen, guide, lookups, report

CANCEL = {"取消", "退出", "算了", "不办了"}
HELP = {"帮助", "说明", "?", "？", "help"}
HUMAN = {"人工", "人工服务", "转人工", "客服"}
GREETINGS = {"你好", "您好", "在吗", "在不在", "hi", "hello", "主菜单", "开始", "menu"}
MEDIA_KINDS = {"voice", "video", "shortvideo"}
ONE_INCIDENT = re.compile(r"^查\s*(?:进度)?\s*#?(\d{1,9})$")
FLOWS = {"report": report, "guide": guide, "human": guide, "canteen": canteen}

# Main menu: the number, the menu button's CLICK key, and the keywords of each entry.
ENTRIES = [
    ("1", "REPORT", ("报事", "随手拍", "报修", "反映问题", "我要报事"), report.begin),
    ("2", "STATUS", ("查进度", "进度", "我的报事"), lookups.my_incidents),
    ("3", "POINTS", ("积分", "我的积分", "查积分"), lookups.points),
    ("4", "GUIDE", ("办事指南", "办事", "指南"), guide.prompt),
    ("5", "CANTEEN", ("菜单", "食堂", "今日菜单", "食堂菜单"), lookups.canteen),
    ("6", "NOTICE", ("公示", "本周公示", "三个公开"), lookups.notice),
    ("7", "WISHES", ("心愿", "微心愿", "心愿墙"), lookups.wishes),
    ("0", "HUMAN", tuple(HUMAN), guide.begin_human),
]
BY_WORD = {word: action for number, _key, words, action in ENTRIES for word in (number, *words)}
BY_WORD.update({"订餐": canteen.begin, "我要订餐": canteen.begin, "预订": canteen.begin})
BY_KEY = {key: action for _number, key, _words, action in ENTRIES}


def normalize(text: str) -> str:
    return re.sub(r"[\s。！!，,.、~～]+", "", text).lower()


def route(turn) -> str | None:
    message = turn.message
    if message.kind == "event":
        return _event(turn)
    if message.kind in MEDIA_KINDS:
        return replies.MEDIA
    if message.kind not in ("text", "image", "location"):
        return replies.MENU  # links and anything new
    word = normalize(message.content) if message.kind == "text" else ""
    session = turn.session
    if word in CANCEL:
        sessions.end(session)
        return replies.CANCELLED
    if word in HELP:
        prompt = FLOWS[session.flow].prompt_again(turn) if session.flow in FLOWS else None
        return replies.HELP if prompt is None else f"{replies.HELP}\n\n当前步骤：{prompt}"
    if word in HUMAN:
        sessions.end(session)
        return guide.begin_human(turn)
    if session.flow in FLOWS:
        return FLOWS[session.flow].step(turn)
    note = "上一次的操作已超时结束。\n" if turn.expired else ""
    return note + (idle(turn, word) or "")


def idle(turn, word: str) -> str | None:
    """No flow in progress: a menu number or keyword, 查 123, a greeting, else a question
    for the catalog."""
    message = turn.message
    if message.kind != "text":
        return "如需报事，请先回复 1 开始，再按提示发送照片或位置。\n" + replies.MENU
    if word in BY_WORD:
        return BY_WORD[word](turn)
    found = ONE_INCIDENT.match(word)
    if found:
        return lookups.one_incident(turn, int(found.group(1)))
    if word in GREETINGS or not word:
        return replies.WELCOME
    return guide.ask(turn, message.content.strip())


def _event(turn) -> str | None:
    message, session = turn.message, turn.session
    event = (message.event or "").lower()
    if event == "subscribe":
        session.following = True
        _follow(turn, True)
        _preselect(turn, message.event_key.removeprefix("qrscene_"))
        return replies.WELCOME
    if event == "unsubscribe":
        session.following = False
        sessions.end(session)
        _follow(turn, False)
        return None
    if event == "scan":
        _preselect(turn, message.event_key)
        return replies.WELCOME
    if event == "click":
        action = BY_KEY.get(message.event_key.upper())
        if action is None:
            return replies.MENU
        sessions.end(session)
        return action(turn)
    return None  # VIEW, LOCATION reports, template/mass send results: nothing to say


def _follow(turn, following: bool) -> None:
    user = turn.user
    if user is not None:
        user.mp_following = following
        if not following:
            deliver.stop(user)
    turn.session.last_seen_at = utcnow()


def _preselect(turn, scene: str) -> None:
    """A compound's parametric QR code (scene `compound-<id>`) pre-selects the compound."""
    from app.extensions import db
    from app.models import Compound

    if scene.startswith("compound-") and scene[len("compound-"):].isdigit():
        compound = db.session.get(Compound, int(scene[len("compound-"):]))
        if compound is not None:
            turn.session.compound_id = compound.id
