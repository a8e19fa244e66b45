"""Drafting the weekly notice from live data: on demand for one compound (the secretary,
`POST /notices/drafts`, the same draft back if one exists) and every Monday for every
compound that has a secretary (the `notice-drafts` job, set-based: one `gather()` for all
compounds, one INSERT, one `notify_many`).

A week that has a published notice is corrected, not drafted again (409); a week that has
not started yet cannot be drafted (422). One draft per compound and week (a partial unique
index): two drafts asked for at once end in one.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app import timeutil
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import Compound, Notice, NoticeStatus, Role, RoleGrant, ScopeKind, User
from app.models.base import utcnow
from app.services.notices import sources, weeks
from app.services.notifications.outbox import notify_many
from app.services.permissions import authorize

S = NoticeStatus


def of_week(compound_id: int, year: int, week: int, status: NoticeStatus,
            for_update: bool = False) -> Notice | None:
    query = sa.select(Notice).where(Notice.compound_id == compound_id, Notice.iso_year == year,
                                    Notice.iso_week == week, Notice.status == status)
    return db.session.scalar(query.with_for_update() if for_update else query)


def next_version(compound_id: int, year: int, week: int) -> int:
    return (db.session.scalar(sa.select(sa.func.max(Notice.version)).where(
        Notice.compound_id == compound_id, Notice.iso_year == year,
        Notice.iso_week == week)) or 0) + 1


def insert_draft(values: dict) -> tuple[Notice, bool]:
    """Add a draft in a savepoint; the draft already there if another won the race."""
    try:
        with db.session.begin_nested():
            notice = Notice(**values)
            db.session.add(notice)
    except sa.exc.IntegrityError:
        existing = of_week(values["compound_id"], values["iso_year"], values["iso_week"],
                           S.DRAFT)
        if existing is None:
            raise
        return existing, False
    return notice, True


def draft(user: User, compound_id: int, week: str | None = None) -> tuple[Notice, bool]:
    """The compound's draft for the week (default: last week); (notice, created)."""
    compound = db.session.get(Compound, compound_id)
    if compound is None:
        raise NotFound("小区不存在", code="compound_not_found")
    authorize(user, Role.SECRETARY, compound)
    now = utcnow()
    year, number = weeks.parse(week) if week else weeks.last_week(now)
    span = weeks.bounds(year, number, now)
    if span.since > now:
        raise ValidationFailed("这一周还没有开始，不能起草公示", code="week_in_future",
                               errors={"json": {"week": ["尚未开始"]}})
    existing = of_week(compound.id, year, number, S.DRAFT)
    if existing is not None:
        return existing, False
    published = of_week(compound.id, year, number, S.PUBLISHED)
    if published is not None:
        raise Conflict("这一周的公示已发布，如需修改请提交更正", code="notice_already_published",
                       errors={"notice_id": published.id})
    snapshot = sources.gather([compound.id], span)[compound.id]
    notice, created = insert_draft(dict(
        compound_id=compound.id, iso_year=year, iso_week=number,
        version=next_version(compound.id, year, number), status=S.DRAFT, sections={},
        snapshot=snapshot, author_id=user.id, created_at=now, updated_at=now))
    db.session.commit()
    return notice, created


def draft_all(now: datetime | None = None) -> dict:
    """Last week's draft for every compound with a secretary and no notice of that week
    yet; each secretary told once (flush; the job commits)."""
    now = now or utcnow()
    year, number = weeks.last_week(now)
    with_secretary = sa.select(RoleGrant.scope_id).where(
        RoleGrant.role == Role.SECRETARY, RoleGrant.scope_kind == ScopeKind.COMPOUND)
    has_notice = sa.select(Notice.compound_id).where(Notice.iso_year == year,
                                                     Notice.iso_week == number)
    ids = sorted(db.session.scalars(sa.select(Compound.id).where(
        Compound.id.in_(with_secretary), Compound.id.not_in(has_notice))))
    if not ids:
        return {"week": weeks.name(year, number), "drafted": 0, "queued": 0}
    snapshots = sources.gather(ids, weeks.bounds(year, number, now))
    db.session.execute(sa.insert(Notice), [
        {"compound_id": cid, "iso_year": year, "iso_week": number, "version": 1,
         "status": S.DRAFT, "sections": {}, "snapshot": snapshots[cid], "author_id": None,
         "created_at": now, "updated_at": now} for cid in ids])
    drafted = db.session.execute(
        sa.select(Notice.id, Notice.compound_id, Compound.name, RoleGrant.user_id)
        .join(Compound, Compound.id == Notice.compound_id)
        .join(RoleGrant, sa.and_(RoleGrant.scope_id == Notice.compound_id,
                                 RoleGrant.role == Role.SECRETARY,
                                 RoleGrant.scope_kind == ScopeKind.COMPOUND))
        .where(Notice.iso_year == year, Notice.iso_week == number,
               Notice.status == S.DRAFT, Notice.compound_id.in_(ids))).all()
    title = weeks.title(year, number)
    queued = notify_many("notice_task", [
        (user_id, {"title": title, "compound": name, "note": "的公示草稿已生成，请核对后发布",
                   "notice_id": notice_id, "at": now.isoformat()},
         f"notice:{notice_id}:drafted:{user_id}") for notice_id, _cid, name, user_id in drafted])
    return {"week": weeks.name(year, number), "drafted": len(ids), "queued": queued,
            "local_day": timeutil.today(now).isoformat()}
