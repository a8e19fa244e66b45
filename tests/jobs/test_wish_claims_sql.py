"""The claim job's PostgreSQL statement (`expiry._sweep_claims_sql`) against the portable
one (`expiry.sweep_claims_rows`, what SQLite runs): on the same wishes at the same moment
they leave the same wishes, the same timeline events and the same messages (users,
templates, payloads, dedupe keys), including a household's wish posted for it and a
deadline with no microseconds; a wish another transaction holds is skipped and left for
the next run. PostgreSQL only (on SQLite the portable path is the job)."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.jobs import get_job
from app.jobs.runner import run_job
from app.models import Notification, Wish, WishEvent
from app.models.base import utcnow
from app.services.wishes import expiry
from tests.fixtures.visits import household
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
        for_them = wish_post("demo-grid-worker", consent=True, household_id=in_app(
            app, lambda: household(world, "虹桥小区", "2号楼", "1", "101")))["id"]
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


PLAN = [("demo-resident", "demo-party-member"), ("demo-resident", "demo-party-member"),
        ("demo-resident-2", "demo-resident-3"), ("demo-resident-2", "demo-resident-3")]


def test_a_catch_up_is_shared_between_two_connections(app, postgres_only, claimed_wish,
                                                      monkeypatch):
    """Four claims ran out, ranges of one wish. In one connection the ranges write what the
    portable job writes; with two workers half of them run in a second connection and
    transaction: a dry run leaves every wish claimed, the run writes the same as the
    portable job, and a second run finds nothing."""
    monkeypatch.setattr(expiry, "BATCH", 1)
    start = utcnow()
    with time_machine.travel(start, tick=False):
        wish_ids = [claimed_wish(claimer, openid=requester, title=f"心愿{n}")
                    for n, (requester, claimer) in enumerate(PLAN)]
    late = start + 7 * DAY + MINUTE
    # First in one connection (both ways rolled back): four ranges, the same writes.
    monkeypatch.setitem(app.config, "WISH_JOB_WORKERS", 1)
    rows_result, rows_seen, sql_result, sql_seen = both_ways(app, wish_ids, late)
    assert sql_result == rows_result and sql_seen == rows_seen
    monkeypatch.setitem(app.config, "WISH_JOB_WORKERS", 2)
    threads = set()

    def seen(conn, cursor, statement, *_):
        if "told_requester" in statement:
            threads.add(threading.current_thread().name)

    engine = in_app(app, lambda: db.engine)
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        with time_machine.travel(late, tick=False):
            dry = in_app(app, lambda: run_job(get_job("wish-claims"), "test", dry_run=True))
            assert {wish_row(app, w).status.value for w in wish_ids} == {"claimed"}
            result = in_app(app, lambda: run_job(get_job("wish-claims"), "test"))
            again = in_app(app, lambda: run_job(get_job("wish-claims"), "test"))
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert dry == result == rows_result == {"reminded": 0, "released": 4}
    assert again == {"reminded": 0, "released": 0}
    assert len(threads) == 2 and "wish-claims-1" in threads
    assert in_app(app, lambda: snapshot(wish_ids)) == rows_seen


def test_a_failing_share_fails_the_job_once_every_share_has_ended(app):
    """`_in_parallel`: the error of a share, in a thread or in the job's own thread, is
    raised in the job's thread once the other share has ended."""
    ran = []

    def work(share):
        if share == "bad":
            raise RuntimeError("share failed")
        time.sleep(0.2)  # still running when the other share fails
        ran.append(share)
        return share

    with pytest.raises(RuntimeError, match="share failed"):
        in_app(app, lambda: expiry._in_parallel(work, ["first", "bad"], dry_run=False))
    assert ran == ["first"]
    with pytest.raises(RuntimeError, match="share failed"):  # the job's own share fails
        in_app(app, lambda: expiry._in_parallel(work, ["bad", "second"], dry_run=False))
    assert ran == ["first", "second"]  # the thread's share ended before the error rose
    assert in_app(app, lambda: expiry._in_parallel(work, ["a", "b", "c"], False)) == [
        "a", "b", "c"]
