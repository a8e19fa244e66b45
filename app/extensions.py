"""Flask extensions, created unbound and initialised in `create_app()`."""
from __future__ import annotations

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
from app.errors import ErrorSchema

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
    compact unless debug mode indents. Reading refuses NaN and Infinity, which are not JSON."""

    OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS
    ensure_ascii = False  # the standard-library fallback below writes UTF-8 too

    def dumps(self, obj, **kwargs) -> str:
        if kwargs.keys() - {"indent", "separators", "sort_keys"}:
            return super().dumps(obj, **kwargs)
        option = self.OPTIONS | (orjson.OPT_INDENT_2 if kwargs.get("indent") else 0) | (
            orjson.OPT_SORT_KEYS if kwargs.get("sort_keys") else 0)
        return orjson.dumps(obj, default=_default, option=option).decode()

    def loads(self, s, **kwargs):
        return orjson.loads(s)


db = SQLAlchemy(model_class=Base, session_options={"class_": Session})
migrate = Migrate()
api = LinliApi()
limiter = Limiter(key_func=_limit_key, default_limits=[])


def config_limit(name: str):
    """A Flask-Limiter limit string read from config at request time."""
    return lambda: current_app.config[name]
