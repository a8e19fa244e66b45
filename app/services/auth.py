"""Login and bearer tokens: opaque, stored hashed, expiring, revocable.

A token resolves to the ORM `User` with its grants, or, for a read route that asks for one
(app.security), to a `Principal` (plain values, one Core query, no ORM objects); both are
read on every request, so a revoked token or grant counts at once."""
from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import contains_eager

from app import fastread
from app.errors import Unauthorized
from app.extensions import db
from app.models import AuthToken, Building, Household, RoleGrant, User
from app.models.base import utcnow
from app.services.common import get_or_create
from app.services.permissions import Grant, Principal
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
    _check(row)
    return row[2]


@functools.cache
def _principal_query() -> sa.Select:
    """A token's state, its user's household (building, compound) and grants: one row per
    grant, read as Core columns (no ORM objects, no identity map)."""
    tokens, users, grants = AuthToken.__table__, User.__table__, RoleGrant.__table__
    households, buildings = Household.__table__, Building.__table__
    return (sa.select(tokens.c.revoked_at, tokens.c.expires_at, users.c.id,
                      users.c.household_id, households.c.building_id, buildings.c.compound_id,
                      grants.c.role, grants.c.scope_kind, grants.c.scope_id, users.c.nickname)
            .select_from(tokens.join(users, users.c.id == tokens.c.user_id)
                         .outerjoin(households, households.c.id == users.c.household_id)
                         .outerjoin(buildings, buildings.c.id == households.c.building_id)
                         .outerjoin(grants, grants.c.user_id == users.c.id))
            .where(tokens.c.token_hash == sa.bindparam("token_hash"))
            .order_by(grants.c.id))


def principal_for_token(token: str) -> Principal:
    """`user_for_token` as a Principal, for a read."""
    rows = fastread.rows(_principal_query(), {"token_hash": hash_token(token)}, mappings=False)
    _check(rows[0] if rows else None)
    _, _, user_id, household_id, building_id, compound_id, *_ = rows[0]
    return Principal(user_id, household_id, building_id, compound_id,
                     tuple(Grant(r[6], r[7], r[8]) for r in rows if r[6] is not None),
                     rows[0][9])


def _check(row) -> None:
    """Unauthorized unless `row` (revoked_at, expires_at, ...) is a live token."""
    if row is None:
        raise Unauthorized("登录已失效，请重新登录", code="invalid_token")
    if row[0] is not None:
        raise Unauthorized("登录已退出，请重新登录", code="token_revoked")
    if row[1] <= utcnow():
        raise Unauthorized("登录已过期，请重新登录", code="token_expired")


@functools.cache
def _user_query() -> sa.Select:
    return (sa.select(User).outerjoin(User.grants).options(contains_eager(User.grants))
            .where(User.id == sa.bindparam("user_id")))


def load_user(user_id: int) -> User:
    """The ORM user with their grants (one query), for a read that needs the model after
    its token was resolved to a Principal."""
    user = db.session.execute(_user_query(), {"user_id": user_id}).unique().scalar_one_or_none()
    if user is None:
        raise Unauthorized("登录已失效，请重新登录", code="invalid_token")
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
