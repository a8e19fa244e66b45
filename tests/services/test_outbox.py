"""The outbox's batch paths queue exactly what one `notify()` per row would: same rows,
same dedupe (against the table and within the batch), same payload checks, the caller's
transaction."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import DeliveryStatus, Notification, User
from app.services.notifications import outbox

AT = "2026-12-02T01:00:00+00:00"


def payload(n: int) -> dict:
    return {"title": f"第{n}号通知", "status": "已发布", "at": AT, "note": "请查看",
            "wish_id": n}


@pytest.fixture
def users(ctx):
    rows = [User(openid=f"outbox-{n}", nickname=f"居民{n}") for n in range(2000)]
    db.session.add_all(rows)
    db.session.commit()
    return [u.id for u in rows]


def queued() -> list[tuple]:
    return db.session.execute(sa.select(
        Notification.user_id, Notification.template_key, Notification.payload,
        Notification.dedupe_key, Notification.status, Notification.attempts)
        .order_by(Notification.dedupe_key)).all()


def rows_for(users) -> list[tuple[int, dict, str]]:
    # Every user once, then the first ten again under the same keys (a batch that repeats
    # itself), and two keys queued before the batch.
    rows = [(uid, payload(n), f"wish:{n}:{uid}") for n, uid in enumerate(users)]
    return rows + rows[:10]


def test_notify_many_queues_what_notify_per_row_would(users):
    rows = rows_for(users)
    outbox.notify(users[5], "wish_update", payload(5), f"wish:5:{users[5]}")
    outbox.notify(users[7], "wish_update", payload(7), f"wish:7:{users[7]}")
    db.session.commit()
    one_by_one = [outbox.notify(uid, "wish_update", data, key) for uid, data, key in rows]
    expected = queued()
    db.session.rollback()
    db.session.execute(sa.delete(Notification).where(
        Notification.dedupe_key.notin_([f"wish:5:{users[5]}", f"wish:7:{users[7]}"])))
    db.session.commit()

    inserted = outbox.notify_many("wish_update", rows)

    assert inserted == sum(one_by_one) == len(users) - 2
    assert queued() == expected
    assert {r[4] for r in expected} == {DeliveryStatus.PENDING}


def test_notify_many_is_the_callers_transaction(users):
    outbox.notify_many("wish_update", [(uid, payload(1), f"k:{uid}") for uid in users[:50]])
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0


def test_notify_many_refuses_a_payload_missing_keys_and_queues_nothing(users):
    broken = {k: v for k, v in payload(2).items() if k != "title"}
    with pytest.raises(ValueError, match="title"):
        outbox.notify_many("wish_update", [(users[0], payload(1), "a"), (users[1], broken, "b")])
    with pytest.raises(ValueError, match="unknown notification template"):
        outbox.notify_many("no_such_template", [(users[0], payload(1), "c")])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0


def test_notify_many_of_nothing_is_nothing(ctx):
    assert outbox.notify_many("wish_update", []) == 0


def test_broadcast_is_one_insert_select_with_dedupe(users, app):
    from tests.helpers import counting_queries

    some = sa.select(User.id).where(User.openid.like("outbox-1%"))  # 1, 10-19, 100-199, ...
    expected_ids = set(db.session.scalars(some))
    outbox.notify(min(expected_ids), "wish_update", payload(0), f"notice:9:{min(expected_ids)}")
    with counting_queries(app) as statements:
        inserted = outbox.broadcast("wish_update", payload(0), some, "notice:9:")
    assert len(statements) == 1
    assert inserted == len(expected_ids) - 1
    rows = db.session.execute(sa.select(Notification.user_id, Notification.dedupe_key,
                                        Notification.payload)).all()
    assert {r.user_id for r in rows} == expected_ids
    assert all(r.dedupe_key == f"notice:9:{r.user_id}" and r.payload == payload(0)
               for r in rows)
    db.session.commit()
    assert outbox.broadcast("wish_update", payload(0), some, "notice:9:") == 0
