"""Access-token storage shared by every process: the database, or Redis when configured.

wechatpy's default MemoryStorage is per process, so each gunicorn worker would fetch its own
token and invalidate the others'. On PostgreSQL the storage uses its own short transactions,
never the caller's. SQLite has one writer at a time: a second connection of the same thread
would wait for the caller's own transaction forever, so there the storage works inside the
caller's session, in a savepoint (a token that is rolled back is simply fetched again).
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from wechatpy.session import SessionStorage

from app.models.base import utcnow
from app.models.wechat import WeChatToken


class DatabaseStorage(SessionStorage):
    def __init__(self, engine: sa.Engine, session=None):
        self.engine = engine
        self.session = session  # SQLite: the caller's (scoped) session
        self.table = WeChatToken.__table__

    @contextmanager
    def _connection(self):
        if self.session is not None:
            with self.session.begin_nested():
                yield self.session.connection()
        else:
            with self.engine.begin() as conn:
                yield conn

    def get(self, key, default=None):
        with self._connection() as conn:
            row = conn.execute(sa.select(self.table.c.value, self.table.c.expires_at)
                               .where(self.table.c.key == key)).first()
        if row is None:
            return default
        if row.expires_at is not None and row.expires_at <= utcnow():
            return default
        return row.value

    def set(self, key, value, ttl=None):
        if value is None:
            return
        expires_at = utcnow() + timedelta(seconds=ttl) if ttl else None
        values = {"value": value, "expires_at": expires_at}
        with self._connection() as conn:
            updated = conn.execute(sa.update(WeChatToken).where(WeChatToken.key == key)
                                   .values(**values)).rowcount
            if not updated:
                try:
                    with conn.begin_nested():
                        conn.execute(sa.insert(WeChatToken).values(key=key, **values))
                except IntegrityError:
                    # Another process stored a token at the same moment; theirs is as good.
                    pass

    def delete(self, key):
        with self._connection() as conn:
            conn.execute(sa.delete(WeChatToken).where(WeChatToken.key == key))


def make_storage(app) -> SessionStorage:
    if app.config.get("REDIS_URL"):
        import redis
        from wechatpy.session.redisstorage import RedisStorage

        return RedisStorage(redis.Redis.from_url(app.config["REDIS_URL"]), prefix="linli")
    from app.extensions import db

    return DatabaseStorage(db.engine, db.session if db.engine.dialect.name == "sqlite" else None)
