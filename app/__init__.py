"""The application factory: `create_app()` wires config, extensions, blueprints, errors, CLI.

It never starts the scheduler; `flask jobs run` does that in its own process.
"""
from __future__ import annotations

from pathlib import Path

import orjson
from flask import Flask, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from app.database import end_read_only, ping_after_idle
from app.errors import UnsupportedMedia, register_error_handlers
from app.extensions import JSONProvider, api, db, limiter, migrate
from app.logs import ENVIRON_KEY, RequestIdMiddleware, configure_logging, request_id_for
from app.models.base import render_item
from config import load_config

BODY_METHODS = {"POST", "PUT", "PATCH"}
BODY_TYPES = {"application/json", "multipart/form-data"}


def create_app(config=None) -> Flask:
    app = Flask(__name__, instance_path=str(Path(__file__).resolve().parent.parent / "instance"))
    app.config.from_object(config or load_config())
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    configure_logging(app.config["LOG_LEVEL"])
    app.json = JSONProvider(app)
    app.wsgi_app = RequestIdMiddleware(app.wsgi_app)  # werkzeug's access line has the id too
    if app.config["TRUSTED_PROXIES"]:
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    from app import models  # noqa: F401  (register every table)

    # JSON columns (photo ids, dishes, payloads) are read with orjson: a list page reads one
    # per row, and the standard library's json.loads was a twentieth of the wish wall's time.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        "json_deserializer": orjson.loads, **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})}
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
    from app.wechat.bot import views as bot_views

    app.register_blueprint(bot_views.blp)  # XML for WeChat, outside the JSON API
    from app.console import web as console_web
    from app.console.views import bp as console_blueprint

    app.register_blueprint(console_blueprint)  # the staff console: HTML, not the JSON API
    console_web.document(app, api.spec)
    bot_views.document(app, api.spec)
    # After api.init_app, so our envelope replaces flask-smorest's error payload.
    register_error_handlers(app)
    app.before_request(_start_request)
    app.after_request(_finish_request)
    app.teardown_request(lambda _error: end_read_only(db.session()))

    from app.cli import register_cli

    register_cli(app)
    return app


def _start_request():
    g.request_id = request.environ.get(ENVIRON_KEY) or request_id_for(
        request.headers.get("X-Request-ID"))
    if (request.method in BODY_METHODS and request.path.startswith("/api/")
            and request.content_length and request.mimetype not in BODY_TYPES):
        raise UnsupportedMedia("请求体应为 JSON（application/json）或文件上传（multipart/form-data）")


def _finish_request(response):
    response.headers["X-Request-ID"] = g.get("request_id", "")
    return response
