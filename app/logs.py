"""Logging: one handler on the root logger; every line carries its request id, and no line
carries a secret or a person's data.

- `RequestIdMiddleware` gives every WSGI call its request id (the client's `X-Request-ID`
  when usable, else a new one) and keeps it in a context variable until the response is
  closed, so werkzeug's access line, written after Flask has popped the request context,
  carries it too. `RequestIdFilter` puts it on every record (`-` outside a request).
- `RedactFilter` rewrites each record's message and traceback before it is written: query
  parameters that carry secrets (`SECRET_PARAMS`: the AppSecret, access tokens, wx.login
  and phone codes, the signature `t` of image URLs) lose their values, bearer tokens are
  cut, mainland mobile numbers are masked (`138****5678`). It sits on the root handler and
  on werkzeug's logger: the dev server and the WeChat sandbox log every URL they serve,
  `...&secret=...` and `?access_token=...` included. Free text (reasons, notes) is simply
  never logged.
- APScheduler logs every run at INFO: its loggers stay at WARNING unless LOG_LEVEL is DEBUG.
"""
from __future__ import annotations

import contextvars
import logging
import re
import uuid

from flask import g

FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
ENVIRON_KEY = "linli.request_id"
# Query parameters whose values never reach a log line (matched case-insensitively).
SECRET_PARAMS = ("access_token", "secret", "appsecret", "js_code", "code", "token", "t",
                 "session_key", "phone", "phone_number")
QUIET_LOGGERS = ("apscheduler",)  # per-run noise at INFO

_QUERY = re.compile(r"([?&;](?:%s)=)[^&#\s\"'<>]*" % "|".join(SECRET_PARAMS), re.IGNORECASE)
# The same names as keys of a dict or JSON body written into a message.
_KEY_VALUE = re.compile(r"""(["'](?:access_token|secret|appsecret|js_code|session_key)["']\s*:\s*["'])"""
                        r"""[^"']*""", re.IGNORECASE)
_BEARER = re.compile(r"(\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
# A mainland mobile number, alone or after +86 / 86, not inside a longer run of letters or
# digits (request ids, hashes and timestamps stay as they are).
_PHONE = re.compile(r"(?<![0-9A-Za-z])((?:\+?86[- ]?)?1[3-9][0-9])[0-9]{4}([0-9]{4})(?![0-9A-Za-z])")
_REDACTED = "[redacted]"

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id",
                                                                        default=None)


def redact(text: str) -> str:
    """`text` without secret query values, bearer tokens and whole mobile numbers."""
    text = _QUERY.sub(lambda m: m.group(1) + _REDACTED, text)
    text = _KEY_VALUE.sub(lambda m: m.group(1) + _REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + _REDACTED, text)
    return _PHONE.sub(lambda m: m.group(1) + "****" + m.group(2), text)


def request_id_for(incoming: str | None) -> str:
    """The client's X-Request-ID if it is short and printable, else a new id."""
    if incoming and len(incoming) <= 64 and incoming.isprintable():
        return incoming
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    try:
        return g.get("request_id") or _request_id.get()
    except RuntimeError:  # outside an app context
        return _request_id.get()


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        return True


class RedactFilter(logging.Filter):
    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is logging's to report
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class RequestIdMiddleware:
    """Wraps the WSGI app: the request id lives from the call until the response closes."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        request_id = environ[ENVIRON_KEY] = request_id_for(environ.get("HTTP_X_REQUEST_ID"))
        token = _request_id.set(request_id)
        try:
            body = self.wsgi_app(environ, start_response)
        except BaseException:
            _request_id.reset(token)
            raise
        return _ClosingBody(body, token)


class _ClosingBody:
    """The response iterable, resetting the request id when the server closes it (the
    server writes its access line before that)."""

    def __init__(self, body, token):
        self.body, self.token = body, token

    def __iter__(self):
        return iter(self.body)

    def close(self):
        try:
            if hasattr(self.body, "close"):
                self.body.close()
        finally:
            try:
                _request_id.reset(self.token)
            except ValueError:  # closed in another context than it was opened in
                _request_id.set(None)


handler = logging.StreamHandler()
handler.addFilter(RequestIdFilter())
handler.addFilter(RedactFilter())
handler.setFormatter(logging.Formatter(FORMAT))
_werkzeug_filter = RedactFilter()


def configure_logging(level: str) -> None:
    """Install the handler on the root logger once (create_app may run many times)."""
    root = logging.getLogger()
    if handler not in root.handlers:
        root.addHandler(handler)
    root.setLevel(level)
    werkzeug = logging.getLogger("werkzeug")
    if _werkzeug_filter not in werkzeug.filters:
        werkzeug.addFilter(_werkzeug_filter)
    quiet = root.level if root.level <= logging.DEBUG else max(root.level, logging.WARNING)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
