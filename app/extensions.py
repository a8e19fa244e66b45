"""Flask extensions, created unbound and initialised in `create_app()`."""
from __future__ import annotations

import json
import re

import orjson
from flask import current_app, send_from_directory
from flask.json.provider import DefaultJSONProvider, _default
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase
from swagger_ui_bundle import swagger_ui_path

from app.database import Session
from app.errors import ErrorSchema, ValidationFailed

# Stable constraint names, so Alembic migrations behave the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class LinliApi(Api):
    """flask-smorest Api whose documented error payload is our envelope.

    Error handling itself lives in `app.errors` (registered after this Api so it wins).
    """

    ERROR_SCHEMA = ErrorSchema

    def _register_swagger_ui_rule(self, blueprint):
        """Serve Swagger UI's scripts and styles from the swagger-ui-bundle package at
        `/api/docs/static/<file>` (OPENAPI_SWAGGER_UI_URL): community offices sit on
        restricted networks, so the docs page loads nothing from outside the app."""
        super()._register_swagger_ui_rule(blueprint)
        blueprint.add_url_rule("/docs/static/<path:filename>", endpoint="swagger_ui_static",
                               view_func=_swagger_ui_file)


def _swagger_ui_file(filename: str):
    return send_from_directory(str(swagger_ui_path), filename)


def _limit_key() -> str:
    """Rate-limit per signed-in user when there is one, else per client address."""
    from flask import g

    user = getattr(g, "current_user", None)
    return f"user:{user.id}" if user is not None else get_remote_address()


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, written by orjson (several times faster: JSON lists are the hottest
    responses). Datetimes as ISO 8601, as the schemas write them (Flask would write HTTP
    dates); Decimal and UUID as strings; always UTF-8 (Chinese as is, never `\\u` escapes),
    compact unless debug mode indents. Reading is `parse_json`, for Flask's `get_json` and for
    webargs alike (`app.routes.common.JSONParser`)."""

    OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS
    ensure_ascii = False  # the standard-library fallback below writes UTF-8 too

    def dumps(self, obj, **kwargs) -> str:
        if kwargs.keys() - {"indent", "separators", "sort_keys"}:
            return super().dumps(obj, **kwargs)
        option = self.OPTIONS | (orjson.OPT_INDENT_2 if kwargs.get("indent") else 0) | (
            orjson.OPT_SORT_KEYS if kwargs.get("sort_keys") else 0)
        return orjson.dumps(obj, default=_default, option=option).decode()

    def loads(self, s, **kwargs):
        return parse_json(s)


SURROGATE = "含有无效的字符（单独的 Unicode 代理项）"
_SURROGATES = re.compile("[\ud800-\udfff]")


def parse_json(data: bytes | str):
    """The one way a request body is read as JSON: orjson, which refuses NaN and Infinity,
    invalid UTF-8 and anything nested deeper than 1024 levels (its fixed limit: "depth limit
    exceeded", where the standard library's parser would overflow the stack), raising
    `orjson.JSONDecodeError`, a `json.JSONDecodeError`, which webargs answers 400
    `malformed_json`.

    A lone surrogate escape ("\\ud800", which no UTF-8 text can hold, so no column or JSON
    response either) is the client's bad value rather than bad syntax: 422
    `validation_error` naming each field that holds one."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        paths = _surrogate_paths(data)
        if not paths:
            raise
    raise ValidationFailed(errors={"json": _nest(paths)})


def _surrogate_paths(data: bytes | str, most: int = 20) -> list[tuple]:
    """Where the lone surrogates are (object keys and list indexes), read again with the
    standard library, which keeps them; nothing when that finds none (the body was bad for
    another reason)."""
    try:
        text = data if isinstance(data, str) else bytes(data).decode("utf-8")
        value = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return []
    paths, stack = [], [((), value)]
    while stack and len(paths) < most:
        path, value = stack.pop()
        if isinstance(value, str):
            if _has_surrogate(value):
                paths.append(path)
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                named = path + (_printable(key),)
                if _has_surrogate(key):
                    paths.append(named)
                else:
                    stack.append((named, item))
        elif isinstance(value, list):
            stack.extend((path + (index,), item) for index, item in reversed(list(enumerate(value))))
    return paths


def _refuse_constant(name: str):
    raise ValueError(name)


def _has_surrogate(text: str) -> bool:
    return _SURROGATES.search(text) is not None


def _printable(key: str) -> str:
    return _SURROGATES.sub("\ufffd", key)


def _nest(paths: list[tuple]) -> dict:
    """Field errors shaped like marshmallow's: {"photo_ids": {1: [message]}}."""
    errors: dict = {}
    for path in paths:
        node, parts = errors, path or ("_schema",)
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node.setdefault(parts[-1], [SURROGATE])
    return errors


db = SQLAlchemy(model_class=Base, session_options={"class_": Session})
migrate = Migrate()
api = LinliApi()
limiter = Limiter(key_func=_limit_key, default_limits=[])


def config_limit(name: str):
    """A Flask-Limiter limit string read from config at request time."""
    return lambda: current_app.config[name]
