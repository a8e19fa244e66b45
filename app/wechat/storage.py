"""Access-token storage shared by every process: the database, or Redis when configured.

wechatpy's default MemoryStorage is per process, so each gunicorn worker would fetch its own
token and invalidate the others'. The database storage uses its own short transactions,
never the caller's, so a token read or write never touches a business transaction.

SQLite allows one writer at a time, and the caller's own session may be that writer (a
request that has begun a transaction and then calls WeChat): a second connection of the same
thread would wait for it in vain. So on SQLite the storage keeps the token in process memory
too, and writes it to the database only when it can without waiting; another process that
cannot see it fetches its own. PostgreSQL, where production runs, has no such limit.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError
from wechatpy.session import SessionStorage

from app.database import SQLITE_BUSY_TIMEOUT_MS
from app.extensions import db
from app.models.base import utcnow
from app.models.wechat import WeChatToken

TABLE = WeChatToken.__table__


class DatabaseStorage(SessionStorage):
    """The database is the truth; each process remembers what it read for CACHE_SECONDS, so
    a busy dispatcher does not read the token once per message. A token another process
    replaced is noticed when WeChat refuses the old one (see LinliWeChatClient._request)."""

    CACHE_SECONDS = 60

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.local: dict[str, tuple[str, datetime | None, datetime]] = {}
        self.lock = threading.Lock()

    def _remember(self, key, value, expires_at) -> None:
        with self.lock:
            self.local[key] = (value, expires_at, utcnow())

    def forget(self, key) -> None:
        with self.lock:
            self.local.pop(key, None)

    def _cached(self, key) -> str | None:
        with self.lock:
            value, expires_at, read_at = self.local.get(key, (None, None, None))
        now = utcnow()
        if value is None or (expires_at is not None and expires_at <= now) or \
                (now - read_at).total_seconds() > self.CACHE_SECONDS:
            return None
        return value

    def get(self, key, default=None):
        cached = self._cached(key)
        if cached is not None:
            return cached
        # A plain read outside any transaction: it never waits for, nor holds, a lock.
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            row = conn.execute(sa.select(TABLE.c.value, TABLE.c.expires_at)
                               .where(TABLE.c.key == key)).first()
        if row is None or (row.expires_at is not None and row.expires_at <= utcnow()):
            return default
        self._remember(key, row.value, row.expires_at)
        return row.value

    def set(self, key, value, ttl=None):
        if value is None:
            return
        expires_at = utcnow() + timedelta(seconds=ttl) if ttl else None
        self._remember(key, value, expires_at)
        self._write(key, value, expires_at)

    def _write(self, key, value, expires_at) -> None:
        values = {"value": value, "expires_at": expires_at}
        with self.engine.begin() as conn:
            updated = conn.execute(sa.update(TABLE).where(TABLE.c.key == key)
                                   .values(**values)).rowcount
            if not updated:
                try:
                    with conn.begin_nested():
                        conn.execute(sa.insert(TABLE).values(key=key, **values))
                except IntegrityError:
                    pass  # another process stored a token at the same moment; as good

    def delete(self, key):
        self.forget(key)
        self._delete(key)

    def _delete(self, key) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(TABLE).where(TABLE.c.key == key))


class SQLiteStorage(DatabaseStorage):
    """Writes only when the database is free at once (see the module docstring); the
    process-memory copy then stands in for it until the token expires."""

    CACHE_SECONDS = 7200

    def _write(self, key, value, expires_at) -> None:
        upsert = sqlite_insert(TABLE).values(key=key, value=value, expires_at=expires_at)
        self._try(upsert.on_conflict_do_update(
            index_elements=[TABLE.c.key], set_={"value": value, "expires_at": expires_at}))

    def _delete(self, key) -> None:
        self._try(sa.delete(TABLE).where(TABLE.c.key == key))

    def _try(self, statement) -> None:
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("PRAGMA busy_timeout=0")
            try:
                conn.execute(statement)
            except OperationalError:
                pass  # the database is busy (perhaps with our own caller): memory will do
            finally:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def make_storage(app) -> SessionStorage:
    if app.config.get("REDIS_URL"):
        import redis
        from wechatpy.session.redisstorage import RedisStorage

        return RedisStorage(redis.Redis.from_url(app.config["REDIS_URL"]), prefix="linli")
    if db.engine.dialect.name == "sqlite":
        return SQLiteStorage(db.engine)
    return DatabaseStorage(db.engine)
