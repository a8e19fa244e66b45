"""Helpers the dialogs share: the three-strikes fallback, the resident check, numbers."""
from __future__ import annotations

from app import timeutil
from app.errors import AppError
from app.services.incidents import filing
from app.wechat.bot import replies


def confused(turn, prompt: str) -> str:
    """An input the step cannot use: say so and repeat the prompt; the third time in a row
    offer help or a person instead."""
    session = turn.session
    session.misunderstood = (session.misunderstood or 0) + 1
    text = replies.misunderstood(session.misunderstood, prompt)
    if session.misunderstood >= 3:
        session.misunderstood = 0
    return text


def resident_or_reason(turn):
    """(user, None) for a follower who may report, else (None, why not: bind first)."""
    user = turn.user
    if user is None:
        return None, replies.bind_link()
    try:
        filing.may_report(user)
    except AppError as error:
        return None, f"{error.message.rstrip('。')}。\n{replies.bind_link()}"
    return user, None


def number(turn) -> int | None:
    """The message as a small number (全角 digits too), else None."""
    if turn.message.kind != "text":
        return None
    text = turn.message.content.strip().translate(FULLWIDTH)
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 3 else None


FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def when(moment) -> str:
    return timeutil.local(moment).strftime("%m月%d日 %H:%M") if moment else "—"
