"""The outbox under a backlog: the claim reads pending rows off the front of an index in
claim order (on PostgreSQL the partial index `ix_notifications_pending`), in id order among
rows queued together, however many were sent before."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import Notification
from app.models.base import utcnow
from app.services.notifications import dispatch
from app.services.notifications.outbox import notify_many

DIGEST = {"open": 1, "overdue": 0, "summary": "楼道堆物", "at": "2026-12-01T00:00:00+00:00"}


def backlog(user, queued: int, sent: int) -> None:
    """`sent` rows already sent, then `queued` pending ones from one notify_many (one
    next_attempt_at for all of them)."""
    notify_many("work_digest", [(user.id, DIGEST, f"old:{i}") for i in range(sent)])
    db.session.execute(sa.update(Notification).values(status="sent", sent_at=utcnow()))
    notify_many("work_digest", [(user.id, DIGEST, f"new:{i}") for i in range(queued)])
    db.session.commit()


def plan(query: sa.Select) -> str:
    """How the database runs the claim's query: the PostgreSQL plan or SQLite's."""
    dialect = db.session.get_bind().dialect
    sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    if dialect.name == "postgresql":
        db.session.execute(sa.text("ANALYZE notifications"))
        db.session.execute(sa.text("SET LOCAL enable_seqscan = off"))  # a small test table
        lines = db.session.execute(sa.text("EXPLAIN " + sql)).scalars().all()
    else:
        lines = [row[-1] for row in db.session.execute(sa.text("EXPLAIN QUERY PLAN " + sql))]
    db.session.rollback()
    return "\n".join(lines)


def test_the_claim_reads_the_pending_index_without_sorting(make_user):
    user = make_user("backlog")
    backlog(user, queued=300, sent=600)
    shown = plan(dispatch.due(utcnow(), 20))
    # The index gives the order, so the claim reads a batch off its front and stops.
    assert "sort" not in shown.lower() and "b-tree" not in shown.lower(), shown
    if db.session.get_bind().dialect.name == "postgresql":
        assert "ix_notifications_pending" in shown, shown
    else:  # SQLite's indexes end in the rowid (= id): (status, next_attempt_at) is in order too
        assert "ix_notifications_" in shown, shown


def test_a_claim_takes_the_oldest_rows_in_id_order(make_user):
    user = make_user("backlog-order")
    backlog(user, queued=50, sent=30)
    first = list(db.session.scalars(sa.select(Notification.id).where(
        Notification.status == "pending").order_by(Notification.id).limit(20)))
    _, taken = dispatch.claim("test", 20)
    claimed = list(db.session.scalars(sa.select(Notification.id).where(
        Notification.status.in_(["sending", "inbox_only"])).order_by(Notification.id)))
    assert taken == 20 and claimed == first
    # The sent rows stay as they were: the claim touched pending rows only.
    assert db.session.scalar(sa.select(sa.func.count()).where(
        Notification.status == "sent")) == 30
