"""Jobs as plain functions: housekeeping, the work digest, dry runs, the scheduler lease."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.jobs import JOBS, digest, get_job
from app.jobs.runner import run_job
from app.jobs.scheduler import Scheduler, try_lease
from app.models import (
    DeliveryStatus,
    IdempotencyRecord,
    JobRun,
    Notification,
)
from app.models.base import utcnow
from app.services.notifications.outbox import notify

DIGEST = {"open": 1, "overdue": 0, "summary": "x", "at": "2026-11-22T00:00:00+00:00"}


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_every_job_is_declared_once_with_a_trigger_and_description():
    ids = [job.id for job in JOBS]
    assert len(ids) == len(set(ids))
    assert all(job.trigger.get("trigger") and job.description for job in JOBS)


def test_housekeeping_prunes_only_old_finished_rows(app, make_user):
    user = make_user("u")
    old = utcnow() - timedelta(days=app.config["NOTIFY_RETENTION_DAYS"] + 1)
    for key, status, created in [("old-sent", DeliveryStatus.SENT, old),
                                 ("old-pending", DeliveryStatus.PENDING, old),
                                 ("new-sent", DeliveryStatus.SENT, utcnow())]:
        notify(user, "work_digest", DIGEST, dedupe_key=key)
        db.session.execute(sa.update(Notification).where(Notification.dedupe_key == key)
                           .values(status=status, created_at=created))
    db.session.add(IdempotencyRecord(user_id=user.id, key="k", fingerprint="f",
                                     created_at=utcnow() - timedelta(days=8)))
    db.session.commit()
    result = run_job(get_job("dispatch-housekeeping"), "test")
    assert result["notifications_pruned"] == 1 and result["idempotency_keys_pruned"] == 1
    remaining = set(db.session.scalars(sa.select(Notification.dedupe_key)))
    assert remaining == {"old-pending", "new-sent"}


def test_housekeeping_removes_console_nonces_a_day_past_their_expiry(app, ctx):
    from app.models import ConsoleNonce

    now = utcnow()
    for name, expires in [("spent", now - timedelta(days=2)), ("recent", now - timedelta(hours=2)),
                          ("live", now + timedelta(minutes=2))]:
        db.session.add(ConsoleNonce(nonce_hash=name.ljust(64, "0"), browser_hash="b" * 64,
                                    expires_at=expires))
    db.session.commit()
    assert run_job(get_job("dispatch-housekeeping"), "t")["console_nonces_pruned"] == 1
    assert {h.rstrip("0") for h in db.session.scalars(sa.select(ConsoleNonce.nonce_hash))} == {
        "recent", "live"}


def test_housekeeping_deletes_import_uploads_left_a_day_ago(app, ctx):
    import os
    import time

    from app.storage import get_storage

    storage = get_storage()
    for key in ("imports/7/old.xlsx", "imports/7/old-errors.xlsx", "imports/8/fresh.xlsx",
                "photos/keep.jpg"):
        storage.save(key, b"x")
    day_old = time.time() - 25 * 3600
    for key in ("imports/7/old.xlsx", "imports/7/old-errors.xlsx", "photos/keep.jpg"):
        os.utime(storage._path(key), (day_old, day_old))
    assert run_job(get_job("dispatch-housekeeping"), "t", dry_run=True)[
        "import_uploads_pruned"] == 0  # a dry run deletes nothing
    assert storage._path("imports/7/old.xlsx").exists()
    assert run_job(get_job("dispatch-housekeeping"), "t")["import_uploads_pruned"] == 2
    assert storage.read("imports/8/fresh.xlsx") == b"x"  # waiting for its commit
    assert storage.read("photos/keep.jpg") == b"x"  # only imports/ is pruned
    assert not storage._path("imports/7/old.xlsx").exists()


def test_housekeeping_returns_expired_leases_to_the_queue(app, make_user):
    from app.services.notifications import dispatch

    user = make_user("u", follower=True)
    notify(user, "work_digest", DIGEST, dedupe_key="leased")
    db.session.commit()
    dispatch.claim("dead", 10)
    assert run_job(get_job("dispatch-housekeeping"), "t")["leases_released"] == 0
    later = utcnow() + timedelta(seconds=app.config["NOTIFY_LEASE_SECONDS"] + 5)
    with time_machine.travel(later):
        assert run_job(get_job("dispatch-housekeeping"), "t")["leases_released"] == 1
    assert db.session.scalar(sa.select(Notification.status)) is DeliveryStatus.PENDING


@pytest.fixture
def no_incidents(world, ctx):
    """The world has no incidents: no open work from incidents."""


OTHER_SOURCE_WORKER: list[int] = []


def other_source(user_ids):
    """Another work source, as a later feature would declare: two items for grid worker 1."""
    return {OTHER_SOURCE_WORKER[0]: [digest.WorkItem("楼道灯坏了", overdue=True),
                                     digest.WorkItem("垃圾未清运", overdue=False)]}


@pytest.fixture
def open_work(world, no_incidents, monkeypatch):
    worker = world["users"]["demo-grid-worker"]
    OTHER_SOURCE_WORKER[:] = [worker]
    monkeypatch.setattr(digest, "SOURCES", digest.SOURCES + (f"{__name__}:other_source",))
    yield worker


def test_digest_messages_grid_workers_with_open_work_once_a_day(open_work, ctx):
    dry = run_job(get_job("work-digest"), "t", dry_run=True)
    assert dry == {"grid_workers": 2, "queued": 1}
    assert count(Notification) == 0  # a dry run changes nothing
    assert run_job(get_job("work-digest"), "t") == {"grid_workers": 2, "queued": 1}
    assert run_job(get_job("work-digest"), "t")["queued"] == 0  # same day: deduplicated
    row = db.session.scalar(sa.select(Notification))
    assert row.user_id == open_work
    assert row.payload["open"] == 2 and row.payload["overdue"] == 1
    assert row.payload["summary"] == "楼道灯坏了、垃圾未清运"
    with time_machine.travel(utcnow() + timedelta(days=1)):
        assert run_job(get_job("work-digest"), "t")["queued"] == 1


def test_digest_without_open_work_sends_nothing(no_incidents):
    assert run_job(get_job("work-digest"), "t") == {"grid_workers": 2, "queued": 0}


def test_job_runs_are_recorded_with_duration(ctx):
    run_job(get_job("dispatch-housekeeping"), "me")
    run = db.session.scalar(sa.select(JobRun))
    assert (run.job_id, run.holder, run.ok, run.dry_run) == ("dispatch-housekeeping", "me",
                                                             True, False)
    assert run.duration_ms >= 0 and "leases_released" in run.result


def test_failing_job_is_recorded_and_rolled_back(ctx, monkeypatch, make_user):
    from app.jobs import Job

    user = make_user("u")

    def broken(dry_run=False):
        notify(user, "work_digest", DIGEST, dedupe_key="half-done")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run_job(Job("broken", broken, {"trigger": "interval", "minutes": 1}, "x"), "me")
    assert count(Notification) == 0
    assert db.session.scalar(sa.select(JobRun.ok).where(JobRun.job_id == "broken")) is False


def test_lease_has_one_holder_until_it_expires(app, ctx):
    assert try_lease("a", 30) is True
    assert try_lease("b", 30) is False
    assert try_lease("a", 30) is True  # renewal
    with time_machine.travel(utcnow() + timedelta(seconds=31)):
        assert try_lease("b", 30) is True
        assert try_lease("a", 30) is False


def test_a_scheduler_that_lost_its_lease_does_not_run_jobs(app, ctx):
    scheduler = Scheduler(app, holder="paused-leader")
    assert try_lease("new-leader", 60)
    scheduler._fire(get_job("dispatch-housekeeping"))
    assert count(JobRun) == 0
    db.session.commit()  # SQLite: end this read before the job's own transaction writes
    scheduler = Scheduler(app, holder="new-leader")
    scheduler._fire(get_job("dispatch-housekeeping"))
    assert count(JobRun) == 1


def test_cli_lists_jobs_and_runs_one_by_hand(app, ctx):
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["jobs", "list"])
    assert "dispatch-housekeeping" in listed.output and "work-digest" in listed.output
    assert "next 20" in listed.output
    dry = runner.invoke(args=["jobs", "run-once", "dispatch-housekeeping", "--dry-run"])
    assert dry.exit_code == 0 and "(dry run)" in dry.output
    unknown = runner.invoke(args=["jobs", "run-once", "nope"])
    assert unknown.exit_code != 0 and "no job 'nope'" in unknown.output
