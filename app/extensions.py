"""Flask extensions, created unbound and initialised in `create_app()`."""
from __future__ import annotations

import orjson
from flask import current_app
from flask.json.provider import DefaultJSONProvider, _default
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

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


def _limit_key() -> str:
    """Rate-limit per signed-in user when there is one, else per client address."""
    from flask import g

    user = getattr(g, "current_user", None)
    return f"user:{user.id}" if user is not None else get_remote_address()


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, written by orjson (several times faster: JSON lists are the hottest
    responses). Datetimes as ISO 8601, as the schemas write them (Flask would write HTTP
    dates); Decimal and UUID as strings; always UTF-8, compact unless debug mode indents.
    Reading refuses NaN and Infinity, which are not JSON."""

    OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS

    def dumps(self, obj, **kwargs) -> str:
        if kwargs.keys() - {"indent", "separators"}:
            return super().dumps(obj, **kwargs)
        indent = orjson.OPT_INDENT_2 if kwargs.get("indent") else 0
        return orjson.dumps(obj, default=_default, option=self.OPTIONS | indent).decode()

    def loads(self, s, **kwargs):
        return orjson.loads(s)


db = SQLAlchemy(model_class=Base, session_options={"class_": Session})
migrate = Migrate()
api = LinliApi()
limiter = Limiter(key_func=_limit_key, default_limits=[])


def config_limit(name: str):
    """A Flask-Limiter limit string read from config at request time."""
    return lambda: current_app.config[name]
