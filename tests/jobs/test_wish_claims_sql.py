"""The claim job's PostgreSQL statement (`expiry._sweep_claims_sql`) against the portable
one (`expiry.sweep_claims_rows`, what SQLite runs): on the same wishes at the same moment
they leave the same wishes, the same timeline events and the same messages (users,
templates, payloads, dedupe keys), including a household's wish posted for it and a
deadline with no microseconds; a wish another transaction holds is skipped and left for
the next run. PostgreSQL only (on SQLite the portable path is the job)."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.models import Household, Notification, Wish, WishEvent
from app.models.base import utcnow
from app.services.wishes import expiry
from tests.fixtures.wishes import wish_row
from tests.helpers import in_app

DAY, MINUTE = timedelta(days=1), timedelta(minutes=1)


@pytest.fixture
def postgres_only(app):
    if in_app(app, lambda: db.engine.dialect.name) != "postgresql":
        pytest.skip("the claim job's single statement is PostgreSQL's")


def snapshot(wish_ids: list[int]) -> dict:
    """Everything the job may write about these wishes, comparable across two runs."""
    wishes = db.session.execute(sa.select(
        Wish.id, Wish.status, Wish.claimer_id, Wish.claimed_at, Wish.claim_expires_at,
        Wish.fulfilled_at, Wish.unconfirmed_at, Wish.due_at, Wish.updated_at)
        .where(Wish.id.in_(wish_ids)).order_by(Wish.id)).all()
    events = db.session.execute(sa.select(
        WishEvent.wish_id, WishEvent.actor_id, WishEvent.action, WishEvent.from_status,
        WishEvent.to_status, WishEvent.note, WishEvent.photo_ids, WishEvent.created_at)
        .where(WishEvent.wish_id.in_(wish_ids)).order_by(WishEvent.wish_id, WishEvent.id)).all()
    messages = db.session.execute(sa.select(
        Notification.user_id, Notification.template_key, Notification.payload,
        Notification.dedupe_key, Notification.status, Notification.attempts,
        Notification.next_attempt_at, Notification.created_at)
        .where(Notification.dedupe_key.like("wish:%"))).all()
    return {"wishes": [tuple(r) for r in wishes], "events": [tuple(r) for r in events],
            "messages": sorted((tuple(r) for r in messages), key=lambda r: r[3])}


def both_ways(app, wish_ids: list[int], at) -> tuple[dict, dict, dict, dict]:
    """(result, snapshot) of each path from the same state; both rolled back."""
    def once(sweep):
        with time_machine.travel(at, tick=False):
            result = sweep(utcnow())
            seen = snapshot(wish_ids)
        db.session.rollback()
        return result, seen
    def work():
        rows = once(expiry.sweep_claims_rows)
        sql = once(expiry._sweep_claims_sql)
        return (*rows, *sql)
    return in_app(app, work)


def test_the_statement_writes_what_the_portable_job_writes(app, world, postgres_only,
                                                          claimed_wish, wish_post, wish_act):
    start = utcnow()
    with time_machine.travel(start, tick=False):
        own = [claimed_wish(title=f"心愿{n}") for n in range(2)]
        other = claimed_wish("demo-resident-3", openid="demo-resident-2", title="换灯泡")
        household = in_app(app, lambda: db.session.scalar(sa.select(Household.id).where(
            Household.building_id == world["buildings"][("虹桥小区", "2号楼")],
            Household.unit == "1", Household.room == "101")))
        for_them = wish_post("demo-grid-worker", household_id=household, consent=True)["id"]
        wish_act("demo-secretary", for_them, "approve", check_method="visit")
        wish_act("demo-party-member", for_them, "claim")
    wish_ids = [*own, other, for_them]
    assert wish_row(app, for_them).requester_id is None  # told: its poster
    # Two claims a day younger (due for their reminder), one deadline on a whole second.
    def younger():
        for wish in db.session.scalars(sa.select(Wish).where(Wish.id.in_(own))):
            wish.claimed_at += DAY
            wish.claim_expires_at += DAY
            wish.due_at += DAY
            if wish.id == own[0]:
                wish.claim_expires_at = wish.claim_expires_at.replace(microsecond=0)
        db.session.commit()
    in_app(app, younger)

    day6 = start + 6 * DAY + MINUTE  # four reminders, nothing released
    rows_result, rows_seen, sql_result, sql_seen = both_ways(app, wish_ids, day6)
    assert rows_result == sql_result == {"reminded": 4, "released": 0}
    assert rows_seen == sql_seen
    deadlines = [m[2]["deadline"] for m in sql_seen["messages"]
                 if m[1] == "wish_claim_reminder"]
    assert len(deadlines) == 4
    assert any("." not in d for d in deadlines) and any("." in d for d in deadlines)

    late = start + 7 * DAY + MINUTE  # the younger two reminded, the others released
    rows_result, rows_seen, sql_result, sql_seen = both_ways(app, wish_ids, late)
    assert rows_result == sql_result == {"reminded": 2, "released": 2}
    assert rows_seen == sql_seen
    released = [m for m in sql_seen["messages"] if "claim_expired" in m[3]]
    assert sorted(m[1] for m in released) == ["wish_claim_update"] * 2 + ["wish_update"] * 2
    assert [w[1].value for w in sql_seen["wishes"]] == [
        "claimed", "claimed", "published", "published"]
    posters = [m for m in released if m[2]["wish_id"] == for_them]
    assert world["users"]["demo-grid-worker"] in {m[0] for m in posters}


def test_a_wish_another_transaction_holds_is_left_for_the_next_run(app, postgres_only,
                                                                  claimed_wish, monkeypatch):
    monkeypatch.setattr(expiry, "BATCH", 2)
    start = utcnow()
    with time_machine.travel(start, tick=False):
        wish_ids = [claimed_wish(title=f"心愿{n}") for n in range(3)]
    late = start + 7 * DAY + MINUTE
    held, started, done = wish_ids[1], threading.Event(), threading.Event()

    def hold():
        def work():
            db.session.execute(sa.select(Wish.id).where(Wish.id == held).with_for_update())
            started.set()
            done.wait(30)
            db.session.rollback()
        in_app(app, work)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert started.wait(30)
        with time_machine.travel(late, tick=False):
            result = in_app(app, lambda: (expiry.sweep_claims(), db.session.commit())[0])
    finally:
        done.set()
        holder.join()
    assert result == {"reminded": 0, "released": 2}
    assert wish_row(app, held).status.value == "claimed"
    with time_machine.travel(late + MINUTE, tick=False):
        again = in_app(app, lambda: (expiry.sweep_claims(), db.session.commit())[0])
    assert again == {"reminded": 0, "released": 1}
    assert {wish_row(app, w).status.value for w in wish_ids} == {"published"}
