"""Shared column types and helpers for the typed models."""
from __future__ import annotations

import enum
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, object_session
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend.

    Stored as naive UTC (SQLite has no time zones); always returned aware, in UTC.
    """

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC datetimes")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def result_processor(self, dialect, coltype):
        # One function per value instead of TypeDecorator's two calls: list pages read a
        # hundred of these per request. `combine` rather than `replace(tzinfo=)`: the same
        # value in a sixth of the time (replace parses its keywords and builds a tuple).
        parse = self.impl_instance.result_processor(dialect, coltype)  # SQLite: from text
        utc, combine = timezone.utc, datetime.combine
        if parse is None:
            return lambda value: None if value is None else combine(value.date(), value.time(), utc)
        return lambda value: None if value is None else parse(value).replace(tzinfo=utc)


def str_enum(enum_cls: type[enum.Enum], name: str) -> sa.Enum:
    """A portable enum column: VARCHAR plus a CHECK constraint (no native PG type to migrate)."""
    return sa.Enum(enum_cls, name=name, native_enum=False, create_constraint=True, length=32,
                   values_callable=lambda cls: [m.value for m in cls], validate_strings=True)


class LabelledEnum(str, enum.Enum):
    """A string enum whose members carry a Chinese label: `Member("code", "中文")`."""

    def __new__(cls, value: str, label: str):
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.label = label
        return obj


def render_item(type_, obj, autogen_context):
    """Alembic autogenerate hook: migrations name plain SQLAlchemy types, not our decorators."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


class Versioned:
    """A row edited through forms: an integer `version` that every ORM update with a real
    column change bumps (the listener below), whoever writes it, API or console. The
    console's edit forms carry the version they showed and refuse a stale submit
    (app.console.edits). Core UPDATEs (`sa.update(...)`) do not bump it: a reward's
    stock taken by a redemption is not an edit."""

    version: Mapped[int] = mapped_column(default=1, server_default=sa.text("1"))


@sa.event.listens_for(Versioned, "before_update", propagate=True)
def _bump_version(mapper, connection, target) -> None:
    # No WHERE version = ... (as `version_id_col` would add): API writes keep their
    # last-write-wins behaviour under races instead of failing with StaleDataError.
    session = object_session(target)
    if session is not None and session.is_modified(target, include_collections=False):
        target.version = type(target).version + 1
