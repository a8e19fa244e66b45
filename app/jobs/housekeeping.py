"""dispatch-housekeeping: leases back to the queue, old rows pruned, expired household
invites closed (their codes may be drawn again), spent console sign-in nonces removed, and
console uploads waiting for an import commit that never came (a dry run left) deleted."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.models import (
    ConsoleNonce,
    DeliveryStatus,
    IdempotencyRecord,
    JobRun,
    Notification,
)
from app.models.base import utcnow
from app.services.households import invites
from app.services.notifications.dispatch import release_expired_leases
from app.storage import get_storage

IDEMPOTENCY_RETENTION = timedelta(days=7)
JOB_HISTORY_RETENTION = timedelta(days=30)
NONCE_RETENTION = timedelta(days=1)
IMPORT_UPLOAD_RETENTION = timedelta(days=1)  # a dry run's file, its error workbook
DONE = (DeliveryStatus.SENT, DeliveryStatus.INBOX_ONLY, DeliveryStatus.FAILED)


def run(dry_run: bool = False) -> dict:
    now = utcnow()
    retention = timedelta(days=current_app.config["NOTIFY_RETENTION_DAYS"])
    released = release_expired_leases()
    pruned = db.session.execute(sa.delete(Notification).where(
        Notification.status.in_(DONE), Notification.created_at < now - retention)).rowcount
    keys = db.session.execute(sa.delete(IdempotencyRecord).where(
        IdempotencyRecord.created_at < now - IDEMPOTENCY_RETENTION)).rowcount
    invites_closed = invites.close_expired(now)
    runs = db.session.execute(sa.delete(JobRun).where(
        JobRun.started_at < now - JOB_HISTORY_RETENTION)).rowcount
    # A console sign-in nonce lives minutes; a day later it can only be clutter.
    nonces = db.session.execute(sa.delete(ConsoleNonce).where(
        ConsoleNonce.expires_at < now - NONCE_RETENTION)).rowcount
    uploads = 0 if dry_run else get_storage().prune(
        "imports", (now - IMPORT_UPLOAD_RETENTION).timestamp())
    return {"leases_released": released, "notifications_pruned": pruned,
            "idempotency_keys_pruned": keys, "job_runs_pruned": runs,
            "invites_closed": invites_closed, "console_nonces_pruned": nonces,
            "import_uploads_pruned": uploads}
