"""Exports: the current filter of a console list as .xlsx, in the request when it is small,
as a job when it is big.

- `export(user, kind, filters)` -> `(bytes, filename, fallback)`, or None when the list has
  more than `EXPORT_SYNC_MAX_ROWS` rows (default 10,000): the caller offers `queue` instead.
  Chinese headers, times in Asia/Shanghai, formula-safe cells (app.services.spreadsheets);
  the kind decides the private columns (phones masked, care tags left out).
- `queue(user, kind, filters)`: the role and scope are checked now (403 at once), then an
  `ExportJob` row; one transaction.
- `run_pending(limit)`: the `console-exports` job. Each pending export runs as its user
  (checked again: a grant revoked meanwhile fails it), is stored like uploads
  (app.storage) under an unguessable key, and its user gets an inbox item with the
  download link; one transaction per export, rows claimed with SKIP LOCKED on PostgreSQL.
- `download(user, job_id)` -> `(bytes, filename, fallback)`: its owner only, 404 for
  anyone else.
"""
from __future__ import annotations

import itertools
import logging
import secrets

import sqlalchemy as sa
from flask import current_app

from app import timeutil
from app.errors import AppError, NotFound
from app.extensions import db
from app.models import ExportJob, ExportStatus, User
from app.models.base import utcnow
from app.services import spreadsheets
from app.services.excel import registry
from app.services.excel.kinds import export_rows
from app.services.notifications import outbox
from app.storage import get_storage

log = logging.getLogger(__name__)


def _names(kind, ctx) -> tuple[str, str]:
    where = ctx.community.name if ctx.community is not None else ""
    stamp = timeutil.today().strftime("%Y%m%d")
    return f"{where}{kind.title}{stamp}.xlsx", f"{kind.name}-{stamp}.xlsx"


def _workbook(kind, header, rows) -> bytes:
    return spreadsheets.workbook_bytes([spreadsheets.Sheet(kind.title, header, rows)])


def export(user, kind_name: str, filters: dict):
    kind = registry.get(kind_name)
    ctx = kind.context(user, filters, writing=False)
    header, rows = export_rows(kind, ctx)
    limit = current_app.config.get("EXPORT_SYNC_MAX_ROWS", 10000)
    first = list(itertools.islice(rows, limit + 1))
    if len(first) > limit:
        return None
    return (_workbook(kind, header, first), *_names(kind, ctx))


def queue(user: User, kind_name: str, filters: dict) -> ExportJob:
    kind = registry.get(kind_name)
    kind.context(user, filters, writing=False)  # 403 now, not in the job
    job = ExportJob(user_id=user.id, kind=kind.name, filters=registry.stored(filters),
                    status=ExportStatus.PENDING)
    db.session.add(job)
    db.session.commit()
    return job


def run_pending(limit: int = 5) -> dict:
    done = failed = 0
    for _ in range(limit):
        query = sa.select(ExportJob).where(ExportJob.status == ExportStatus.PENDING) \
            .order_by(ExportJob.id).limit(1).with_for_update(skip_locked=True)
        job = db.session.scalar(query)
        if job is None:
            break
        job_id, kind = job.id, job.kind
        try:
            ok = _run(job)
        except Exception:  # noqa: BLE001 - a broken export must not come back every minute
            log.exception("export %s (%s) failed", job_id, kind)
            db.session.rollback()
            db.session.execute(sa.update(ExportJob).where(ExportJob.id == job_id).values(
                status=ExportStatus.FAILED, error="导出失败，请稍后重试", finished_at=utcnow()))
            db.session.commit()
            ok = False
        done, failed = done + ok, failed + (not ok)
    return {"done": done, "failed": failed}


def _run(job: ExportJob) -> bool:
    kind = registry.get(job.kind)
    user = db.session.get(User, job.user_id)
    try:
        filters = registry.parse_filters(kind, {k: str(v) for k, v in job.filters.items()})
        ctx = kind.context(user, filters, writing=False)
        header, rows = export_rows(kind, ctx)
        counted = _Counted(rows)
        data = _workbook(kind, header, counted)
    except AppError as error:
        job.status, job.error, job.finished_at = ExportStatus.FAILED, error.message[:200], utcnow()
        db.session.commit()
        return False
    filename, _ = _names(kind, ctx)
    key = f"exports/{job.id}-{secrets.token_hex(16)}.xlsx"
    get_storage().save(key, data)
    job.status, job.storage_key, job.filename = ExportStatus.DONE, key, filename[:200]
    job.row_count, job.finished_at = counted.count, utcnow()
    outbox.notify(job.user_id, "export_ready", {
        "what": kind.title, "rows": counted.count, "at": job.finished_at.isoformat(),
        "link": f"/console/exports/jobs/{job.id}/download"},
        dedupe_key=f"export:{job.id}:ready")
    db.session.commit()
    log.info("export %s (%s) done: %s rows", job.id, job.kind, counted.count)
    return True


class _Counted:
    """An iterable of rows that counts what it gave (the writer streams it once)."""

    def __init__(self, rows):
        self.rows, self.count = rows, 0

    def __iter__(self):
        for row in self.rows:
            self.count += 1
            yield row


def download(user: User, job_id: int) -> tuple[bytes, str, str]:
    job = db.session.get(ExportJob, job_id)
    if job is None or job.user_id != user.id or job.status is not ExportStatus.DONE:
        raise NotFound("导出文件不存在", code="export_not_found")
    return get_storage().read(job.storage_key), job.filename, f"export-{job.id}.xlsx"


def recent(user: User, limit: int = 10) -> list[ExportJob]:
    return list(db.session.scalars(sa.select(ExportJob).where(ExportJob.user_id == user.id)
                                   .order_by(ExportJob.id.desc()).limit(limit)))
