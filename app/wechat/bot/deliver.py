"""The bot's answers that cannot be passive: customer-service messages through the outbox.

`queue_reply(user, dedupe_key, text)` writes a `bot_reply` notification in the caller's
transaction on the `customer_service` channel (app.services.notifications.dispatch sends
it with `message/custom/send`; on 45015, outside the 48-hour window, it falls back to a
template message, then the inbox; 45047, over the quota, is not retried). It is always the
user's inbox entry too. `queue_replies([(user_id, dedupe_key, text), ...])` is the same for
a batch (the bot worker's photos), in one INSERT and one UPDATE. `stop(user)`: an unfollow
turns what is still queued for them into inbox entries only. Flush only.
"""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import Channel, DeliveryStatus, Notification, User
from app.models.base import utcnow
from app.services.notifications import outbox
from app.wechat.bot.wire import REPLY_MAX


def queue_reply(user: User, dedupe_key: str, text: str) -> bool:
    queued = outbox.notify(user, "bot_reply", {"text": text[:REPLY_MAX], "at": utcnow().isoformat()},
                           dedupe_key=dedupe_key)
    if queued and user.mp_following and user.mp_openid:
        _as_customer_service([dedupe_key])
    return queued


def queue_replies(replies: list[tuple[int, str, str]]) -> list[str]:
    """`queue_reply` for many (user id, dedupe key, text) at once; the keys queued."""
    if not replies:
        return []
    at = utcnow().isoformat()
    queued = outbox.queue_many("bot_reply", [(user_id, {"text": text[:REPLY_MAX], "at": at}, key)
                                             for user_id, key, text in replies])
    following = set(db.session.scalars(sa.select(User.id).where(
        User.id.in_(sorted({user_id for user_id, _, _ in replies})),
        User.mp_following.is_(True), User.mp_openid.is_not(None))))
    new = set(queued)
    _as_customer_service([key for user_id, key, _ in replies
                          if user_id in following and key in new])
    return queued


def _as_customer_service(keys: list[str]) -> None:
    """Newly queued answers to a follower go as customer-service messages."""
    if keys:
        db.session.execute(sa.update(Notification).where(
            Notification.dedupe_key.in_(keys), Notification.channel.is_(None))
            .values(channel=Channel.CUSTOMER_SERVICE))


def stop(user: User) -> int:
    return db.session.execute(sa.update(Notification).where(
        Notification.user_id == user.id, Notification.channel == Channel.CUSTOMER_SERVICE,
        Notification.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.INBOX_ONLY)).rowcount
