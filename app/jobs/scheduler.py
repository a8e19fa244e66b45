"""The scheduler process (`flask jobs run`): APScheduler firing the JOBS list, in exactly one
process at a time.

Leadership is a lease row in the database (works on SQLite and PostgreSQL alike): the leader
renews it every SCHEDULER_RENEW_SECONDS; a standby tries to take it at the same pace and
succeeds once it has expired (SCHEDULER_LEASE_SECONDS after the leader's last renewal), so a
dead leader is replaced within a minute. Before each job the leader renews the lease; if that
fails it has lost leadership (e.g. it was paused) and the job does not run, so two processes
never fire the same job.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy.exc import IntegrityError

from app import timeutil
from app.extensions import db
from app.jobs import JOBS, Job
from app.jobs.runner import run_job
from app.models import SchedulerLease
from app.models.base import utcnow

log = logging.getLogger(__name__)
LEASE_NAME = "scheduler"


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def try_lease(holder: str, seconds: int) -> bool:
    """Take or renew the lease; True if `holder` holds it now. Commits."""
    now = utcnow()
    expires = now + timedelta(seconds=seconds)
    lease = SchedulerLease
    taken = db.session.execute(
        sa.update(lease).where(lease.name == LEASE_NAME,
                               sa.or_(lease.holder == holder, lease.expires_at < now))
        .values(holder=holder, expires_at=expires)).rowcount
    if not taken and db.session.get(lease, LEASE_NAME) is None:
        try:
            db.session.add(lease(name=LEASE_NAME, holder=holder, expires_at=expires))
            db.session.flush()
            taken = 1
        except IntegrityError:  # another process created it first
            db.session.rollback()
            return False
    db.session.commit()
    return bool(taken)


def give_up_lease(holder: str) -> None:
    db.session.execute(sa.delete(SchedulerLease).where(SchedulerLease.name == LEASE_NAME,
                                                       SchedulerLease.holder == holder))
    db.session.commit()


def triggers(app: Flask) -> dict[str, dict]:
    overrides = app.config["JOB_TRIGGERS"] or {}
    return {job.id: overrides.get(job.id, job.trigger) for job in JOBS}


class Scheduler:
    def __init__(self, app: Flask, holder: str | None = None):
        self.app = app
        self.holder = holder or holder_name()
        self.lease_seconds = app.config["SCHEDULER_LEASE_SECONDS"]
        self.renew_seconds = app.config["SCHEDULER_RENEW_SECONDS"]
        self.stop_event = threading.Event()
        self.apscheduler: BackgroundScheduler | None = None

    def _fire(self, job: Job) -> None:
        with self.app.app_context():
            if not try_lease(self.holder, self.lease_seconds):
                log.warning("lost the scheduler lease; not running %s", job.id)
                return
            try:
                run_job(job, self.holder)
            except Exception:  # logged by run_job; the scheduler keeps going
                pass

    def _start_jobs(self) -> None:
        # Cron triggers without a timezone of their own (e.g. a JOB_TRIGGERS override
        # {"trigger": "cron", "hour": 7}) fire on Asia/Shanghai's clock, not UTC's.
        self.apscheduler = BackgroundScheduler(
            timezone=timeutil.SHANGHAI, job_defaults={"coalesce": True, "max_instances": 1,
                                                      "misfire_grace_time": 60})
        for job in JOBS:
            spec = dict(triggers(self.app)[job.id])
            self.apscheduler.add_job(self._fire, spec.pop("trigger"), args=[job], id=job.id,
                                     name=job.description, **spec)
        self.apscheduler.start()
        log.info("scheduler %s is the leader; running %d jobs", self.holder, len(JOBS))

    def _stop_jobs(self) -> None:
        if self.apscheduler is not None:
            self.apscheduler.shutdown(wait=True)
            self.apscheduler = None

    def run(self) -> None:
        """Lead or stand by until `stop_event` is set."""
        log.info("scheduler %s started", self.holder)
        try:
            while not self.stop_event.is_set():
                with self.app.app_context():
                    leading = try_lease(self.holder, self.lease_seconds)
                if leading and self.apscheduler is None:
                    self._start_jobs()
                elif not leading and self.apscheduler is not None:
                    log.warning("scheduler %s lost the lease; standing by", self.holder)
                    self._stop_jobs()
                self.stop_event.wait(self.renew_seconds)
        finally:
            self._stop_jobs()
            with self.app.app_context():
                give_up_lease(self.holder)  # a clean stop hands over at once

    def stop(self, *_args) -> None:
        self.stop_event.set()
