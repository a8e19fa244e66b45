"""The outbox: `notify()` writes a notification row in the caller's transaction; the
dispatcher (app.services.notifications.dispatch) sends it after commit, so a rolled-back
change tells nobody anything.

Three ways in, one guarantee (the caller's transaction, a dedupe key naming the event, a key
queued once ever):
- `notify(user, key, payload, dedupe_key)`: one message;
- `notify_many(key, [(user_id, payload, dedupe_key), ...])`: a batch in one INSERT, the
  payload rendered once per template and only checked for its keys per row (`queue_many`
  is the same, returning the keys it queued);
- `broadcast(key, payload, user_ids, dedupe_prefix)`: one payload to every user a SELECT
  names, as one INSERT … SELECT (everyone of a compound, every diner of a meal).
"""
from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.database import json_rows
from app.extensions import db
from app.models import DeliveryStatus, Notification, User
from app.models.base import utcnow
from app.services.notifications import templates

INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
# The rows of a batch travel as one JSON array parameter (app.database.json_rows).
COLUMNS = ["user_id", "dedupe_key", "payload", "template_key", "status", "attempts",
           "next_attempt_at", "created_at"]


def _insert():
    return INSERTS[db.session.get_bind().dialect.name](Notification)


def _insert_from(source: sa.Select, returning=Notification.id) -> sa.Insert:
    """INSERT … SELECT of notification rows, skipping dedupe keys already queued."""
    return _insert().from_select(COLUMNS, source).on_conflict_do_nothing(
        index_elements=[Notification.dedupe_key]).returning(returning)


def _constants(template_key: str) -> tuple:
    now = utcnow()
    return (sa.literal(template_key, sa.String),
            sa.literal(DeliveryStatus.PENDING.value, sa.String), sa.literal(0, sa.Integer),
            sa.literal(now, Notification.next_attempt_at.type),
            sa.literal(now, Notification.created_at.type))


def notify(user: User | int, template_key: str, data: dict, dedupe_key: str) -> bool:
    """Queue a notification in the caller's transaction (flushes, never commits).

    Returns False when a notification with this dedupe key was queued before: the same
    reminder is never queued twice.
    """
    user_id = user if isinstance(user, int) else user.id
    return notify_many(template_key, [(user_id, data, dedupe_key)]) == 1


def notify_many(template_key: str, rows: Iterable[tuple[int, dict, str]]) -> int:
    """Queue one template to many users at once; returns how many rows were new.

    Exactly what a `notify()` per row would queue: a dedupe key seen before (in the table or
    earlier in `rows`) queues nothing.
    """
    return len(queue_many(template_key, rows))


def queue_many(template_key: str, rows: Iterable[tuple[int, dict, str]]) -> list[str]:
    """`notify_many`, returning the dedupe keys it queued (the others were queued before)."""
    template = templates.get(template_key)
    required = template.required()
    values, seen = [], set()
    for user_id, data, dedupe_key in rows:
        if not values:
            templates.check_payload(template, data)  # renders: once per call
        elif not required <= data.keys():
            templates.check_payload(template, data)  # raises, naming the missing keys
        if dedupe_key in seen:
            continue
        seen.add(dedupe_key)
        values.append((user_id, dedupe_key, data))
    if not values:
        return []
    unpacked = json_rows(db.session.get_bind().dialect.name, "rows",
                         {"user_id": "integer", "dedupe_key": "text", "payload": "json"},
                         values)
    source = sa.select(unpacked.c.user_id, unpacked.c.dedupe_key, unpacked.c.payload,
                       *_constants(template_key)).where(sa.true())
    return list(db.session.scalars(_insert_from(source, Notification.dedupe_key)))


def broadcast(template_key: str, data: dict, user_ids: sa.Select, dedupe_prefix: str) -> int:
    """Queue the same payload to every user id `user_ids` selects (one column), in one
    INSERT … SELECT; each row's dedupe key is `dedupe_prefix` + the user id. Returns how
    many rows were new."""
    templates.check_payload(templates.get(template_key), data)
    ids = user_ids.distinct().subquery()
    user_id = next(iter(ids.c))
    source = sa.select(
        user_id, sa.literal(dedupe_prefix, sa.String) + sa.cast(user_id, sa.String),
        sa.literal(data, sa.JSON), *_constants(template_key),
    ).where(sa.true())  # SQLite parses INSERT … SELECT … ON CONFLICT only after a WHERE
    return len(db.session.execute(_insert_from(source)).all())
