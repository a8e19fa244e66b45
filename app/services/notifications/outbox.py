"""Telling people things: the outbox (`notify`), subscribe credits, and the in-app inbox.

`notify()` only writes a row in the caller's transaction; the dispatcher sends it after
commit, so a rolled-back change tells nobody anything.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models import DeliveryStatus, Notification, SubscriptionCredit, User
from app.models.base import utcnow
from app.services import templates
from app.services.common import get_or_create
from app.services.pagination import paginate


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


def record_subscriptions(user: User, accepted: list[str], rejected: list[str]) -> list:
    """Credits from wx.requestSubscribeMessage: one per acceptance; refusals are counted."""
    unknown = sorted(set(accepted + rejected) - set(templates.TEMPLATES))
    if unknown:
        raise ValidationFailed("未知的订阅消息模板", code="unknown_template",
                               errors={"template_keys": unknown})
    table = SubscriptionCredit
    for key, is_accepted in [(k, True) for k in accepted] + [(k, False) for k in rejected]:
        get_or_create(table, user_id=user.id, template_key=key)
        # An increment in SQL, so simultaneous grants all count.
        values = ({"remaining": table.remaining + 1, "accepted_total": table.accepted_total + 1}
                  if is_accepted else {"rejected_total": table.rejected_total + 1})
        db.session.execute(sa.update(table).where(table.user_id == user.id,
                                                  table.template_key == key).values(**values))
    db.session.commit()
    return list(db.session.scalars(sa.select(table).where(table.user_id == user.id)
                                   .order_by(table.template_key)))


def inbox(user: User, cursor: str | None, limit: int, unread_only: bool = False) -> dict:
    query = sa.select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return paginate(query, Notification.id, cursor, limit, descending=True)


def mark_read(user: User, notification_id: int) -> Notification:
    row = db.session.get(Notification, notification_id)
    if row is None or row.user_id != user.id:
        raise NotFound("消息不存在", code="notification_not_found")
    if row.read_at is None:
        row.read_at = utcnow()
        db.session.commit()
    return row


def unread_count(user: User) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)))


def profile(user: User) -> User:
    """What `GET /me` shows: the user, with their unread count attached for the schema."""
    user.unread_count = unread_count(user)
    return user
