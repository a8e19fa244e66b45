"""The console's two cookies and its CSRF token.

- `linli_console`: the session id, signed with the time it was last refreshed
  (itsdangerous). Every response re-signs it, so the idle timeout (`CONSOLE_IDLE_MINUTES`,
  default 30) is checked from the cookie and a GET writes nothing to the database.
- `linli_console_login`: the browser secret a sign-in nonce is bound to (app.console.signin).

Both are HttpOnly, SameSite=Lax, Secure in production, and scoped to `/console`.

CSRF: every console POST carries `csrf_token` (form field) or `X-CSRF-Token` (htmx sends it
from the page's meta tag), an HMAC of the cookie's value under SECRET_KEY. A page of
another site can neither read it nor, with SameSite=Lax, send the cookie with a POST. No
storage and no form library: see README "Staff console".
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "linli_console"
LOGIN_COOKIE = "linli_console_login"
PATH = "/console"


def idle_seconds() -> int:
    return int(current_app.config["CONSOLE_IDLE_MINUTES"] * 60)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="linli-console-session")


def read_sid() -> str | None:
    """The session id of a cookie signed within the idle timeout, else None."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        return _serializer().loads(raw, max_age=idle_seconds())
    except BadSignature:  # tampered, or idle too long (SignatureExpired is a BadSignature)
        return None


def _secure() -> bool:
    return current_app.config.get("ENV_NAME") == "production"


def _set(response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path=PATH, httponly=True,
                        samesite="Lax", secure=_secure())


def write_sid(response, sid: str) -> None:
    _set(response, SESSION_COOKIE, _serializer().dumps(sid), idle_seconds())


def clear(response, name: str) -> None:
    response.delete_cookie(name, path=PATH, httponly=True, samesite="Lax", secure=_secure())


def login_secret() -> str | None:
    return request.cookies.get(LOGIN_COOKIE) or None


def new_login_secret(response) -> str:
    secret = secrets.token_urlsafe(24)
    _set(response, LOGIN_COOKIE, secret, 3600)
    return secret


def csrf_token(basis: str) -> str:
    """The CSRF token for a cookie value (the raw session id or the browser secret)."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"console-csrf:" + basis.encode(), hashlib.sha256).hexdigest()


def csrf_ok(basis: str | None) -> bool:
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    return basis is not None and hmac.compare_digest(sent, csrf_token(basis))
