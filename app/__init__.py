"""The application factory: `create_app()` wires config, extensions, blueprints, errors, CLI.

It never starts the scheduler; `flask jobs run` does that in its own process.
"""
from __future__ import annotations

import logging
import uuid
from pathlib import Path

from flask import Flask, g, request

from app.database import end_read_only, ping_after_idle
from app.errors import UnsupportedMedia, register_error_handlers
from app.extensions import JSONProvider, api, db, limiter, migrate
from app.models.base import render_item
from config import load_config

BODY_METHODS = {"POST", "PUT", "PATCH"}
BODY_TYPES = {"application/json", "multipart/form-data"}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.request_id = g.get("request_id", "-")
        except RuntimeError:  # outside a request
            record.request_id = "-"
        return True


_log_handler = logging.StreamHandler()
_log_handler.addFilter(RequestIdFilter())
_log_handler.setFormatter(logging.Formatter(
    "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if _log_handler not in root.handlers:  # create_app may run many times (tests)
        root.addHandler(_log_handler)
    root.setLevel(level)


def create_app(config=None) -> Flask:
    app = Flask(__name__, instance_path=str(Path(__file__).resolve().parent.parent / "instance"))
    app.config.from_object(config or load_config())
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    configure_logging(app.config["LOG_LEVEL"])
    app.json = JSONProvider(app)

    from app import models  # noqa: F401  (register every table)

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            ping_after_idle(engine, app.config["DATABASE_PING_IDLE_SECONDS"])
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"),
                     render_as_batch=True, compare_type=True, render_item=render_item)
    api.init_app(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer",
                       "description": "POST /api/v1/auth/login 返回的 token"})
    limiter.init_app(app)

    from app.routes import BLUEPRINTS

    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    # After api.init_app, so our envelope replaces flask-smorest's error payload.
    register_error_handlers(app)
    app.before_request(_start_request)
    app.after_request(_finish_request)
    app.teardown_request(lambda _error: end_read_only(db.session()))

    from app.cli import register_cli

    register_cli(app)
    return app


def _start_request():
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() \
        else uuid.uuid4().hex
    if (request.method in BODY_METHODS and request.path.startswith("/api/")
            and request.content_length and request.mimetype not in BODY_TYPES):
        raise UnsupportedMedia("请求体应为 JSON（application/json）或文件上传（multipart/form-data）")


def _finish_request(response):
    response.headers["X-Request-ID"] = g.get("request_id", "")
    return response
