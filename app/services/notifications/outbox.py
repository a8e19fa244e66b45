"""The outbox: `notify()` writes a notification row in the caller's transaction; the
dispatcher (app.services.notifications.dispatch) sends it after commit, so a rolled-back
change tells nobody anything.
"""
from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models import DeliveryStatus, Notification, User
from app.models.base import utcnow
from app.services.notifications import templates

INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def notify(user: User | int, template_key: str, data: dict, dedupe_key: str) -> bool:
    """Queue a notification in the caller's transaction (flushes, never commits).

    Returns False when a notification with this dedupe key was queued before: the same
    reminder is never queued twice.
    """
    template = templates.get(template_key)
    templates.check_payload(template, data)
    user_id = user if isinstance(user, int) else user.id
    now = utcnow()
    # One statement: insert unless the dedupe key exists (PostgreSQL and SQLite alike).
    insert = INSERTS[db.session.get_bind().dialect.name](Notification).values(
        user_id=user_id, template_key=template_key, payload=data, dedupe_key=dedupe_key,
        status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now)
    inserted = db.session.execute(insert.on_conflict_do_nothing(
        index_elements=[Notification.dedupe_key]).returning(Notification.id)).scalar()
    return inserted is not None
