"""办事指南 and 人工.

A free-text question goes to the catalog matcher (app.services.guides.matching): confident
→ the entry's answer; unsure → "您是不是想问" with the top three numbered (flow `guide`,
step `choose`); nothing → a gap row for staff and the offer of a person (step `offer`).
人工 (at any step, or 0 in the menu) asks for the question and opens a ticket (flow
`human`); staff answer it through the API.
"""
from __future__ import annotations

from app.extensions import db
from app.models import Compound, GuideEntry
from app.services.guides import catalog, handoff, matching
from app.wechat.bot import replies, sessions
from app.wechat.bot.dialogs.common import confused, number

QUESTION_MIN = 2


def community_id(turn) -> int | None:
    """The follower's community: their household's, else the compound their QR code named."""
    if turn.user is not None:
        found = catalog.community_of(turn.user)
        if found is not None:
            return found
    if turn.session.compound_id:
        compound = db.session.get(Compound, turn.session.compound_id)
        return compound.community_id if compound else None
    return None


def prompt(turn) -> str:
    return "请直接发送您要办的事，例如“老年证怎么办”“低保申请需要什么材料”。"


def ask(turn, question: str) -> str:
    found = matching.match(community_id(turn), question)
    entries = {e.id: e for e in db.session.query(GuideEntry).filter(
        GuideEntry.id.in_([s.entry_id for s in found.ranked]))} if found.ranked else {}
    if found.kind == "confident":
        turn.session.misunderstood = 0
        return catalog.answer_text(entries[found.best.entry_id])
    if found.kind == "unsure":
        ids = [s.entry_id for s in found.ranked]
        sessions.start(turn.session, "guide", "choose", {
            "ids": ids, "question": question[:300], "score": found.best.score})
        lines = [f"{i} {entries[entry_id].title}" for i, entry_id in enumerate(ids, 1)]
        return "您是不是想问：\n" + "\n".join(lines) + "\n回复数字查看；都不是请回复 0 转人工。"
    best = found.best
    handoff.record_gap(community_id(turn), question, best.entry_id if best else None,
                       best.score if best else 0.0)
    sessions.start(turn.session, "guide", "offer", {"question": question[:300]})
    return ("抱歉，暂时没有找到相关的办事指南。回复 1 转社区工作人员解答，回复 0 返回。\n"
            "也可以换个说法再问，或回复“帮助”查看菜单。")


def begin_human(turn) -> str:
    sessions.start(turn.session, "human", "ask")
    return "请用一两句话说明您的问题，社区工作人员会尽快答复您。回复“取消”退出。"


def prompt_again(turn) -> str:
    step = turn.session.step
    if step == "ask":
        return "请说明您的问题。"
    if step == "choose":
        return "回复数字查看对应的办事指南，回复 0 转人工。"
    return "回复 1 转社区工作人员，回复 0 返回。"


def step(turn) -> str | None:
    session, message = turn.session, turn.message
    text = message.content.strip() if message.kind == "text" else ""
    if session.step == "ask":
        if len(text) < QUESTION_MIN:
            return confused(turn, "请用文字说明您的问题。")
        return _ticket(turn, text)
    choice = number(turn)
    if session.step == "choose":
        ids = session.data.get("ids") or []
        if choice is not None and 1 <= choice <= len(ids):
            entry = db.session.get(GuideEntry, ids[choice - 1])
            sessions.end(session)
            return catalog.answer_text(entry) if entry is not None and entry.active \
                else "该指南已下线，请换个说法再问。"
        if choice == 0:  # none of them: a gap for staff, and a person
            handoff.record_gap(community_id(turn), session.data.get("question") or "",
                               ids[0] if ids else None, session.data.get("score") or 0.0)
            return begin_human(turn)
    elif session.step == "offer":
        if choice == 1:
            return _ticket(turn, session.data.get("question") or text)
        if choice == 0:
            sessions.end(session)
            return replies.MENU
    if text and choice is None:  # a new question instead of a choice
        sessions.end(session)
        from app.wechat.bot import router  # router imports this module
        return router.idle(turn, router.normalize(text))
    return confused(turn, prompt_again(turn))


def _ticket(turn, question: str) -> str:
    ticket = handoff.open_ticket(turn.session.openid, turn.user.id if turn.user else None,
                                 community_id(turn), question)
    sessions.end(turn.session)
    return (f"已转给社区工作人员（工单 {ticket.id}），答复会通过本公众号发给您。\n"
            "回复“帮助”查看其他服务。")
