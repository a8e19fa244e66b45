"""Who a follower is: the official-account openid joined to the mini-program user by
unionid (the same person across the two WeChat apps).

The unionid comes from `cgi-bin/user/info` (asked before the handling's transaction, by
the callback, while the session does not know it yet); the user is looked up at every
message of an unbound follower, so one who binds in the mini-program later is recognised at
their next message. Flush only, never commit.
"""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import BotSession, User


def link(session: BotSession, unionid: str | None, user: User | None) -> User | None:
    """The follower's user (bound now if possible), with `mp_openid` and `mp_following` kept
    in step with the session. `user`: the session's bound user, as `sessions.lock` read it."""
    if unionid and not session.unionid:
        session.unionid = unionid
    if user is None and session.unionid:
        user = db.session.scalar(sa.select(User).where(User.unionid == session.unionid)
                                 .order_by(User.id).limit(1))
        if user is not None:
            session.user_id = user.id
    if user is not None:
        if user.mp_openid != session.openid:
            # Another user held this openid before (rebinding): theirs is stale.
            db.session.execute(sa.update(User).where(User.mp_openid == session.openid,
                                                     User.id != user.id).values(mp_openid=None))
            user.mp_openid = session.openid
        if user.mp_following != session.following:
            user.mp_following = session.following
    return user
