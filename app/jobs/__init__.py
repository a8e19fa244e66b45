"""Scheduled jobs, declared in one list.

Each job is a plain function `fn(dry_run: bool) -> dict` (counts for the log), run in an app
context inside its own transaction by `app.jobs.runner.run_job`; the scheduler process
(`flask jobs run`) fires them. `JOB_TRIGGERS` (JSON) overrides a job's trigger by id.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from app.jobs import (
    canteen,
    digest,
    excel,
    housekeeping,
    incidents,
    notices,
    party,
    redemptions,
    visits,
    wishes,
)
from app.jobs.bot import run as run_bot_deferred


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
        "(no points until verified); tell each of the community's staff once a run."),
    Job("party-pace", party.run_pace,
        {"trigger": "cron", "month": "10,12", "day": 1, "hour": 9, "minute": 0,
         "timezone": "Asia/Shanghai"},
        "On 1 October and 1 December, remind confirmed party members behind the pro-rata "
        "pace of the yearly bar (times and hours)."),
    Job("canteen-close", canteen.run_close, {"trigger": "interval", "minutes": 1},
        "Close published meals at their booking cutoff and tell each canteen staff member "
        "the count to cook."),
    Job("canteen-reminders", canteen.run_reminders, {"trigger": "interval", "minutes": 5},
        "Remind each diner (or the booker of an elder) within an hour of the pickup window, "
        "once per booking."),
    Job("canteen-no-shows", canteen.run_after_pickup, {"trigger": "interval", "minutes": 10},
        "Finish meals whose pickup window ended; after the grace, mark bookings not picked "
        "up as no-shows and suspend self-booking after repeated ones."),
    Job("visit-escalation", visits.run_escalation, {"trigger": "interval", "minutes": 30},
        "Tell the compound's secretary about 六必访 visits (and 流动党员 contacts) overdue "
        "for 3 days, once per missed due time."),
    Job("notice-drafts", notices.run_drafts,
        {"trigger": "cron", "day_of_week": "mon", "hour": 6, "minute": 0,
         "timezone": "Asia/Shanghai"},
        "Every Monday, draft last week's 三个公开 notice for every compound with a secretary "
        "and tell the secretary."),
    Job("notice-reminders", notices.run_reminders,
        {"trigger": "cron", "day_of_week": "thu", "hour": 9, "minute": 0,
         "timezone": "Asia/Shanghai"},
        "Every Thursday, remind secretaries whose notice for last week is not published."),
    Job("bot-deferred", run_bot_deferred, {"trigger": "interval", "minutes": 1},
        "Run the bot's queued messages (photos, filings) whose thread died or failed."),
    Job("console-exports", excel.run, {"trigger": "interval", "minutes": 1},
        "Build the console's big Excel exports (over 10,000 rows), store each file and put "
        "a download link only its owner can use in their inbox."),
]


def get_job(job_id: str) -> Job:
    for job in JOBS:
        if job.id == job_id:
            return job
    raise KeyError(job_id)
