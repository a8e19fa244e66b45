"""AppError hierarchy and the one JSON error envelope: `{code, message, errors}`.

Services raise AppError subclasses with a stable `code`; HTTP errors raised by Flask,
Werkzeug, webargs (validation) and Flask-Limiter are mapped to the same envelope here, and
so are database errors (`handle_database_error`): the database unreachable, 503; a value no
column holds, 422. Messages are user-facing, so they are Simplified Chinese.
"""
from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

import marshmallow as ma
import psycopg
import sqlalchemy.exc as sa_exc
from flask import Flask, g, has_request_context, jsonify, request
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ErrorSchema(ma.Schema):
    """The error envelope (used for OpenAPI documentation)."""

    code = ma.fields.String(required=True, metadata={"description": "stable snake_case code"})
    message = ma.fields.String(required=True, metadata={"description": "给用户看的中文说明"})
    errors = ma.fields.Dict(metadata={"description": "field errors or other details"})


class AppError(Exception):
    status = 400
    code = "bad_request"
    message = "请求有误"

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 errors: dict | None = None, status: int | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.code = code or self.code
        self.errors = errors or {}
        self.status = status or self.status


class Unauthorized(AppError):
    status, code, message = 401, "unauthorized", "请先登录"


class Forbidden(AppError):
    status, code, message = 403, "forbidden", "没有权限进行此操作"


class NotFound(AppError):
    status, code, message = 404, "not_found", "内容不存在或已删除"


class Conflict(AppError):
    status, code, message = 409, "conflict", "操作与当前状态冲突"


class ValidationFailed(AppError):
    status, code, message = 422, "validation_error", "提交的内容有误，请检查后重试"


class PayloadTooLarge(AppError):
    status, code, message = 413, "payload_too_large", "文件太大"


class UnsupportedMedia(AppError):
    status, code, message = 415, "unsupported_media_type", "不支持的内容类型"


class TooManyRequests(AppError):
    status, code, message = 429, "rate_limited", "操作太频繁，请稍后再试"


class ServiceUnavailable(AppError):
    status, code, message = 503, "service_unavailable", "服务暂时不可用，请稍后再试"


# HTTP status -> (code, Chinese message) for errors raised outside our services.
HTTP_ERRORS = {
    400: ("bad_request", "请求格式有误"),
    401: ("unauthorized", "请先登录"),
    403: ("forbidden", "没有权限进行此操作"),
    404: ("not_found", "请求的地址不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    409: ("conflict", "操作与当前状态冲突"),
    413: ("payload_too_large", "提交的内容太大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
    422: ("validation_error", "提交的内容有误，请检查后重试"),
    429: ("rate_limited", "操作太频繁，请稍后再试"),
}


# Paths whose errors are pages, not the JSON envelope: prefix -> render(status, message)
# returning a response (the staff console registers one). Routing errors (404, 405) and a
# database outage reach the app's handlers before any blueprint's, so they look here.
PAGE_RENDERERS: dict[str, Callable] = {}


def _page_renderer():
    if not has_request_context():
        return None
    for prefix, render in PAGE_RENDERERS.items():
        if request.path == prefix or request.path.startswith(prefix + "/"):
            return render
    return None


def envelope(status: int, code: str, message: str, errors: dict | None = None, headers=None):
    # A failed request changes nothing: undo whatever the service flushed before it failed
    # (the request's teardown would too, but not when a caller shares the app context).
    # When even the rollback fails, the database went away mid-request: say so.
    if not _rolled_back():
        status, code, message, errors = 503, ServiceUnavailable.code, DATABASE_DOWN, {}
        headers = {**(headers or {}), "Retry-After": str(RETRY_AFTER_SECONDS)}
    render = _page_renderer()
    response = render(status, message) if render else jsonify(
        {"code": code, "message": message, "errors": errors or {}})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def handle_app_error(error: AppError):
    return envelope(error.status, error.code, error.message, error.errors)


def handle_http_exception(error: HTTPException):
    if error.code is None or error.code >= 500:
        return handle_uncaught(error)
    code, message = HTTP_ERRORS.get(error.code, ("http_error", "请求失败"))
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages") or {}
    if error.code == 400 and _is_malformed_json(errors):
        code, message = "malformed_json", "请求体不是合法的 JSON"
        errors = {"json": ["JSON 格式错误"]}
    headers = dict(data.get("headers") or {})
    if getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)
    return envelope(error.code, code, message, errors, headers)


def _is_malformed_json(errors: dict) -> bool:
    json_errors = errors.get("json") if isinstance(errors, dict) else None
    return isinstance(json_errors, list) and any("Invalid JSON" in str(e) for e in json_errors)


def handle_out_of_range(_error: Exception):
    """A number no database column can hold (an id of 10**30 in a path, query or cursor):
    bad input, not a server error. SQLite refuses it in the driver, PostgreSQL as data."""
    return envelope(422, "out_of_range", "数值超出范围", {})


DATABASE_DOWN = "服务暂时不可用，请稍后再试"
RETRY_AFTER_SECONDS = 5
# SQLite's answers for a database it cannot use now (busy past busy_timeout, locked, I/O),
# as opposed to a bug (no such table, a syntax error), which stays a 500.
SQLITE_UNAVAILABLE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_CANTOPEN",
                      "SQLITE_FULL", "SQLITE_PROTOCOL")


def database_unavailable(error: BaseException) -> bool:
    """Whether a database error means the database cannot be used right now (not a bug):
    a connection lost or refused (SQLAlchemy's disconnect detection), the pool exhausted,
    PostgreSQL's OperationalError family (connection failures, shutdown, too many
    connections, lock or statement timeouts, serialization failures) and InterfaceError
    (connection closed), SQLite busy or locked after its busy timeout."""
    if isinstance(error, (sa_exc.TimeoutError, sa_exc.DisconnectionError)):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig
    if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)):
        return True
    if isinstance(error, sqlite3.OperationalError):
        name = getattr(error, "sqlite_errorname", "") or ""
        return name.startswith(SQLITE_UNAVAILABLE) or "database is locked" in str(error)
    return False


def handle_database_error(error: Exception):
    """Every SQLAlchemy and driver error: 503 `service_unavailable` when the database is
    unreachable (the client retries; an Idempotency-Key makes that safe), 422
    `out_of_range` for a value no column or bind processor takes (SQLAlchemy wraps an
    OverflowError raised while binding in a StatementError), else a 500 like any bug."""
    if database_unavailable(error):
        log.warning("database unavailable (request_id=%s): %s: %s", getattr(g, "request_id", None),
                    type(error).__name__, str(error).splitlines()[0] if str(error) else "")
        return envelope(503, ServiceUnavailable.code, DATABASE_DOWN,
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    original = getattr(error, "orig", None)
    if isinstance(error, (DataError, psycopg.DataError)) or isinstance(
            original, (OverflowError, psycopg.DataError)):
        return handle_out_of_range(error)
    return handle_uncaught(error)


def _rolled_back() -> bool:
    from app.extensions import db

    try:
        db.session.rollback()
        return True
    except Exception as error:  # noqa: BLE001 - the connection is gone: drop it, answer 503
        log.warning("rollback failed: %s: %s", type(error).__name__, error)
        try:
            db.session.close()
        except Exception:  # noqa: BLE001 - the pool invalidates the connection on its own
            pass
        return False


def handle_uncaught(error: Exception):
    request_id = getattr(g, "request_id", None)
    log.error("uncaught exception (request_id=%s)", request_id, exc_info=error)
    return envelope(500, "internal_error", "服务器开小差了，请稍后再试",
                    {"request_id": request_id} if request_id else {})


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(AppError, handle_app_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(OverflowError, handle_out_of_range)
    app.register_error_handler(DataError, handle_out_of_range)
    for database_error in (sa_exc.SQLAlchemyError, psycopg.Error, sqlite3.Error):
        app.register_error_handler(database_error, handle_database_error)
    app.register_error_handler(Exception, handle_uncaught)
