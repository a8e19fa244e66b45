"""Request authentication: `Authorization: Bearer <token>`, checked before the view runs.

The token resolves to the ORM `User` with its grants (one query). A read route whose
services take a `Principal` says `@login_required(principal=True)`: a GET or HEAD then
resolves the token to a Principal (plain values from one Core query; the hot lists build no
ORM objects), and `current_user()` loads the model only if asked (one query more). Views
pass who asks as `current_principal()`: the Principal in such a read, the User otherwise;
both pass every permission check.
"""
from __future__ import annotations

from functools import partial, wraps

from flask import g, request
from flask_smorest import Blueprint

from app.database import READ_METHODS
from app.errors import Unauthorized
from app.models import User
from app.services import auth
from app.services.permissions import Viewer

BEARER = [{"bearerAuth": []}]
# The 401 codes of every login_required operation (documented by app.routes.common).
TOKEN_ERRORS = ("missing_token", "invalid_token", "token_revoked", "token_expired")


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def login_required(view=None, *, principal: bool = False):
    """Resolve the bearer token before the view runs; document the requirement in OpenAPI.
    `principal=True`: a GET or HEAD gets a Principal instead of the ORM user."""
    if view is None:
        return partial(login_required, principal=principal)

    @wraps(view)
    def wrapper(*args, **kwargs):
        token = bearer_token()
        if token is None:
            raise Unauthorized("请先登录", code="missing_token")
        # Both are set on every request: a test's app context may outlive one request.
        if principal and request.method in READ_METHODS:
            g.principal, g.current_user = auth.principal_for_token(token), None
        else:
            g.principal = g.current_user = auth.user_for_token(token)
        return view(*args, **kwargs)

    return Blueprint.doc(security=BEARER)(wrapper)


def current_principal() -> Viewer:
    """Who asks, for checks and reads: the Principal in a `principal=True` read, else the
    User."""
    return g.principal


def current_user() -> User:
    """The ORM user (in a `principal=True` read, loaded now with its grants: one query)."""
    if g.current_user is None:
        g.current_user = auth.load_user(g.principal.id)
    return g.current_user
