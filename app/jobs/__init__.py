"""Scheduled jobs, declared in one list.

Each job is a plain function `fn(dry_run: bool) -> dict` (counts for the log), run in an app
context inside its own transaction by `app.jobs.runner.run_job`; the scheduler process
(`flask jobs run`) fires them. `JOB_TRIGGERS` (JSON) overrides a job's trigger by id.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from app.jobs import digest, housekeeping, incidents, party, redemptions, wishes


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
    Job("incident-sla", incidents.run_sla, {"trigger": "interval", "minutes": 1},
        "Remind 15 minutes before a respond/resolve deadline; on breach tell the compound "
        "secretary, an hour later the community staff (each step once)."),
    Job("incident-auto-close", incidents.run_auto_close, {"trigger": "interval", "minutes": 10},
        "Close incidents resolved and not confirmed within 72 hours, and say so."),
    Job("redemption-expiry", redemptions.run, {"trigger": "interval", "minutes": 10},
        "Expire reward redemptions not collected in time: refund points and stock, tell the "
        "owner."),
    Job("wish-claims", wishes.run_claims, {"trigger": "interval", "minutes": 10},
        "Remind a wish's claimer on day 5 of the claim; release claims not fulfilled in 7 "
        "days back to the wall and tell both sides."),
    Job("wish-expiry", wishes.run_expiry, {"trigger": "interval", "minutes": 30},
        "Expire published wishes nobody claimed within 30 days, and tell the requester."),
    Job("wish-unconfirmed", wishes.run_unconfirmed, {"trigger": "interval", "minutes": 30},
        "Send fulfilled wishes not confirmed within 3 days to the secretary's queue (never "
        "completed or awarded by the timer)."),
    Job("party-checkouts", party.run_checkouts, {"trigger": "interval", "minutes": 10},
        "Close service logs nobody checked out of at their post's end, flagged for staff "
        "(no points until verified)."),
    Job("party-pace", party.run_pace,
        {"trigger": "cron", "month": "10,12", "day": 1, "hour": 9, "minute": 0,
         "timezone": "Asia/Shanghai"},
        "On 1 October and 1 December, remind confirmed party members behind the pro-rata "
        "pace of the yearly bar (times and hours)."),
]


def get_job(job_id: str) -> Job:
    for job in JOBS:
        if job.id == job_id:
            return job
    raise KeyError(job_id)
