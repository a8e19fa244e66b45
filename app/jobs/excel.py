"""Big console exports (app.services.excel.exports): build the pending files, store them and
tell their users. A dry run only counts what is pending (it writes no file)."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import ExportJob, ExportStatus
from app.services.excel import exports


def run(dry_run: bool = False) -> dict:
    if dry_run:
        return {"pending": db.session.scalar(sa.select(sa.func.count()).where(
            ExportJob.status == ExportStatus.PENDING))}
    return exports.run_pending()
