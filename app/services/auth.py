"""Login and bearer tokens: opaque, stored hashed, expiring, revocable."""
from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import contains_eager

from app.errors import Unauthorized
from app.extensions import db
from app.models import AuthToken, User
from app.models.base import utcnow
from app.services.common import get_or_create
from app.services.profile import with_avatar
from app.wechat.login import WeChatIdentity, code_to_session


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(code: str) -> tuple[str, datetime, User]:
    """Exchange a wx.login code for a token; (token, its expiry, the user with their
    avatar). WeChat is called before any DB write."""
    identity = code_to_session(code)
    user = _upsert_user(identity)
    user.session_key = identity.session_key
    user.last_login_at = utcnow()
    token, expires_at = _new_token(user)
    db.session.commit()
    return token, expires_at, with_avatar(user)


def _upsert_user(identity: WeChatIdentity) -> User:
    # A new user is a plain WeChat user: the RESIDENT role comes with a verified household
    # membership (app.services.households.membership), never with a login.
    user = get_or_create(User, openid=identity.openid)
    if identity.unionid and not user.unionid:
        user.unionid = identity.unionid
    return user


def _issue_token(user: User) -> str:
    return _new_token(user)[0]


def _new_token(user: User) -> tuple[str, datetime]:
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(days=current_app.config["TOKEN_TTL_DAYS"])
    db.session.add(AuthToken(user=user, token_hash=hash_token(token), expires_at=expires_at))
    db.session.flush()
    return token, expires_at


@functools.cache
def _token_query() -> sa.Select:
    """A token's state, its user and the user's grants in one round trip (every route checks
    roles). Built once: SQLAlchemy keys its compiled-SQL cache on the statement object."""
    return (sa.select(AuthToken.revoked_at, AuthToken.expires_at, User)
            .join(User, AuthToken.user_id == User.id)
            .outerjoin(User.grants).options(contains_eager(User.grants))
            .where(AuthToken.token_hash == sa.bindparam("token_hash")))


def user_for_token(token: str) -> User:
    """The user a bearer token belongs to, or Unauthorized (unknown, expired or revoked)."""
    row = db.session.execute(_token_query(), {"token_hash": hash_token(token)}).unique().first()
    if row is None:
        raise Unauthorized("登录已失效，请重新登录", code="invalid_token")
    revoked_at, expires_at, user = row
    if revoked_at is not None:
        raise Unauthorized("登录已退出，请重新登录", code="token_revoked")
    if expires_at <= utcnow():
        raise Unauthorized("登录已过期，请重新登录", code="token_expired")
    return user


def revoke_token(token: str) -> None:
    db.session.execute(sa.update(AuthToken)
                       .where(AuthToken.token_hash == hash_token(token),
                              AuthToken.revoked_at.is_(None))
                       .values(revoked_at=utcnow()))
    db.session.commit()


def revoke_all_tokens(user: User) -> int:
    count = db.session.execute(sa.update(AuthToken)
                               .where(AuthToken.user_id == user.id,
                                      AuthToken.revoked_at.is_(None))
                               .values(revoked_at=utcnow())).rowcount
    db.session.commit()
    return count
