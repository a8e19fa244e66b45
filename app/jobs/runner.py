"""Running one job: app context, its own transaction, a JobRun row, a log line."""
from __future__ import annotations

import logging
import time

from app.extensions import db
from app.models import JobRun
from app.models.base import utcnow

log = logging.getLogger(__name__)


def run_job(job, holder: str, dry_run: bool = False) -> dict:
    """Run `job` in the current app context. Dry runs roll back everything the job did."""
    started, started_at = time.monotonic(), utcnow()
    try:
        result = job.func(dry_run=dry_run)
    except Exception:
        db.session.rollback()
        _record(job, holder, dry_run, started, started_at, ok=False, result=None)
        log.exception("job %s failed after %.2fs", job.id, time.monotonic() - started)
        raise
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    _record(job, holder, dry_run, started, started_at, ok=True, result=result)
    log.info("job %s%s done in %.2fs: %s", job.id, " (dry run)" if dry_run else "",
             time.monotonic() - started, result)
    return result


def _record(job, holder: str, dry_run: bool, started: float, started_at, ok: bool,
            result) -> None:
    db.session.add(JobRun(job_id=job.id, holder=holder, dry_run=dry_run, ok=ok,
                          started_at=started_at,
                          duration_ms=int((time.monotonic() - started) * 1000),
                          result=result))
    db.session.commit()
