"""The in-app inbox: every notification is an inbox entry (`inbox`, `mark_read`,
`mark_all_read`, and `unread_count`, which `GET /me` shows)."""
from __future__ import annotations

import sqlalchemy as sa

from app.errors import NotFound
from app.extensions import db
from app.models import Notification, User
from app.models.base import utcnow
from app.services.pagination import paginate


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


def mark_all_read(user: User) -> int:
    """Mark every unread notification of mine read (one statement); how many were."""
    count = db.session.execute(
        sa.update(Notification).where(Notification.user_id == user.id,
                                      Notification.read_at.is_(None))
        .values(read_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return count


def unread_count(user: User) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)))
