"""Scheduled jobs, declared in one list.

Each job is a plain function `fn(dry_run: bool) -> dict` (counts for the log), run in an app
context inside its own transaction by `app.jobs.runner.run_job`; the scheduler process
(`flask jobs run`) fires them. `JOB_TRIGGERS` (JSON) overrides a job's trigger by id.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from app.jobs import digest, housekeeping


@dataclass(frozen=True)
class Job:
    id: str
    func: Callable[..., dict]
    trigger: dict = field(default_factory=dict)  # APScheduler trigger and its arguments
    description: str = ""


JOBS: list[Job] = [
    Job("dispatch-housekeeping", housekeeping.run,
        {"trigger": "interval", "minutes": 1},
        "Expired dispatcher leases back to the queue; prune delivered notifications, "
        "idempotency records and job history past their retention."),
    Job("work-digest", digest.run,
        {"trigger": "cron", "hour": 8, "minute": 0, "timezone": "Asia/Shanghai"},
        "Every morning, each grid worker's open work in one message."),
]


def get_job(job_id: str) -> Job:
    for job in JOBS:
        if job.id == job_id:
            return job
    raise KeyError(job_id)
