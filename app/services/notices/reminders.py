"""The Thursday reminder: every secretary whose compound's notice for last week is not
published yet (a draft waiting, or none at all) is told once per week (flush; the job
commits)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.extensions import db
from app.models import Compound, Notice, NoticeStatus, Role, RoleGrant, ScopeKind
from app.models.base import utcnow
from app.services.notices import weeks
from app.services.notifications.outbox import notify_many


def remind_unpublished(now: datetime | None = None) -> dict:
    now = now or utcnow()
    year, number = weeks.last_week(now)
    published = sa.select(Notice.compound_id).where(
        Notice.iso_year == year, Notice.iso_week == number,
        Notice.status == NoticeStatus.PUBLISHED)
    drafts = dict(db.session.execute(sa.select(Notice.compound_id, Notice.id).where(
        Notice.iso_year == year, Notice.iso_week == number,
        Notice.status == NoticeStatus.DRAFT)).all())
    rows = db.session.execute(
        sa.select(RoleGrant.user_id, Compound.id, Compound.name)
        .join(Compound, Compound.id == RoleGrant.scope_id)
        .where(RoleGrant.role == Role.SECRETARY, RoleGrant.scope_kind == ScopeKind.COMPOUND,
               Compound.id.not_in(published))).all()
    title = weeks.title(year, number)
    week = weeks.name(year, number)
    queued = notify_many("notice_task", [
        (user_id, {"title": title, "compound": name, "at": now.isoformat(),
                   "notice_id": drafts.get(cid, 0),
                   "note": "的公示尚未发布，请核对草稿后发布" if cid in drafts
                   else "的公示尚未起草，请起草并发布"},
         f"notice-reminder:{cid}:{week}:{user_id}") for user_id, cid, name in rows])
    return {"week": week, "unpublished": len({cid for _u, cid, _n in rows}), "queued": queued}
