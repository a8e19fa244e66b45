"""Request authentication: `Authorization: Bearer <token>` -> `g.current_user`."""
from __future__ import annotations

from functools import wraps

from flask import g, request
from flask_smorest import Blueprint

from app.errors import Unauthorized
from app.services import auth

BEARER = [{"bearerAuth": []}]
# The 401 codes of every login_required operation (documented by app.routes.common).
TOKEN_ERRORS = ("missing_token", "invalid_token", "token_revoked", "token_expired")


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def login_required(view):
    """Resolve the bearer token before the view runs; document the requirement in OpenAPI."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        token = bearer_token()
        if token is None:
            raise Unauthorized("请先登录", code="missing_token")
        g.current_user = auth.user_for_token(token)
        return view(*args, **kwargs)

    return Blueprint.doc(security=BEARER)(wrapper)


def current_user():
    return g.current_user
