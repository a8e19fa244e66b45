"""The notice's state machine: edit and publish a draft (the compound's secretary), correct
a published notice (a new draft, version n+1, 更正; publishing it supersedes the old one),
withdraw a published notice, or an older version a correction superseded (the community's
staff, with a reason: a figure or a sentence that should never have been public).

Publishing freezes the snapshot (the numbers read again, then never again) and tells every
verified resident of the compound with one `outbox.broadcast` (INSERT … SELECT). The draft
leaves `draft` with one conditional UPDATE, and a partial unique index allows one
published notice per compound and week, so two publishes at once end in one and a 409.
Lock order: the notice being published, then the one it corrects.
"""
from __future__ import annotations

import sqlalchemy as sa

from app.errors import Conflict, NotFound
from app.extensions import db
from app.models import (
    Building,
    Household,
    HouseholdMembership,
    MembershipStatus,
    Notice,
    NoticeStatus,
    Role,
    User,
)
from app.models.base import utcnow
from app.services import transitions
from app.services.notices import drafting, sources, weeks
from app.services.notifications import outbox
from app.services.permissions import has_role
from app.services.transitions import Rule

S = NoticeStatus
NOUN = "公示"


def manages(user: User, notice: Notice) -> bool:
    return has_role(user, (Role.SECRETARY, Role.STAFF), notice.compound)


def _secretary(user: User, notice: Notice) -> bool:
    return has_role(user, Role.SECRETARY, notice.compound)


def _staff(user: User, notice: Notice) -> bool:
    return has_role(user, Role.STAFF, notice.compound)


TRANSITIONS: dict[str, Rule] = {
    "edit": Rule((S.DRAFT,), _secretary, records=False),
    "publish": Rule((S.DRAFT,), _secretary),
    "correct": Rule((S.PUBLISHED,), _secretary),
    "withdraw": Rule((S.PUBLISHED, S.SUPERSEDED), _staff),
}
PUBLIC = (S.PUBLISHED, S.SUPERSEDED)


def can_view(user: User | None, notice: Notice) -> bool:
    return notice.status in PUBLIC or (user is not None and manages(user, notice))


def get_visible(user: User | None, notice_id: int, for_update: bool = False) -> Notice:
    query = sa.select(Notice).where(Notice.id == notice_id)
    notice = db.session.scalar(query.with_for_update() if for_update else query)
    if notice is None or not can_view(user, notice):
        raise NotFound("公示不存在", code="notice_not_found")
    return notice


def available(user: User, notice: Notice) -> list[str]:
    return [action for action, rule in TRANSITIONS.items()
            if notice.status in rule.sources and rule.who(user, notice)]


def edit(user: User, notice_id: int, sections: dict) -> Notice:
    """Change the free text of a draft (a key given null is cleared). One transaction."""
    notice = get_visible(user, notice_id, for_update=True)
    transitions.check(TRANSITIONS, "edit", user, notice, NOUN)
    merged = dict(notice.sections or {})
    for key, text in sections.items():
        if text is None:
            merged.pop(key, None)
        else:
            merged[key] = text
    notice.sections = merged
    notice.updated_at = utcnow()
    db.session.commit()
    return notice


def residents(compound_id: int) -> sa.Select:
    """Every verified resident of the compound (user ids)."""
    return (sa.select(HouseholdMembership.user_id)
            .join(Household, Household.id == HouseholdMembership.household_id)
            .join(Building, Building.id == Household.building_id)
            .where(Building.compound_id == compound_id,
                   HouseholdMembership.status == MembershipStatus.VERIFIED))


def publish(user: User, notice_id: int) -> Notice:
    notice = get_visible(user, notice_id, for_update=True)
    transitions.check(TRANSITIONS, "publish", user, notice, NOUN)
    now = utcnow()
    span = weeks.bounds(notice.iso_year, notice.iso_week, now)
    snapshot = sources.gather([notice.compound_id], span)[notice.compound_id]
    if notice.corrects_id is not None:
        db.session.execute(sa.update(Notice).where(
            Notice.id == notice.corrects_id, Notice.status == S.PUBLISHED)
            .values(status=S.SUPERSEDED, updated_at=now))
    moved = db.session.execute(sa.update(Notice).where(
        Notice.id == notice.id, Notice.status == S.DRAFT).values(
        status=S.PUBLISHED, snapshot=snapshot, published_at=now, published_by_id=user.id,
        updated_at=now)).rowcount
    if not moved:
        db.session.rollback()
        raise Conflict("公示已发布", code="invalid_transition",
                       errors={"status": S.PUBLISHED.value})
    title = weeks.title(notice.iso_year, notice.iso_week)
    if notice.version > 1:
        title = "（更正）" + title
    outbox.broadcast("notice_published", {
        "title": title, "compound": notice.compound.name, "date": now.isoformat(),
        "notice_id": notice.id}, residents(notice.compound_id),
        f"notice:{notice.id}:published:")
    db.session.commit()
    db.session.expire(notice)
    return notice


def correct(user: User, notice_id: int, note: str) -> Notice:
    """A new draft correcting a published notice (its text copied, `correction_note`
    saying what changed); the same one back if it was already started."""
    notice = get_visible(user, notice_id, for_update=True)
    transitions.check(TRANSITIONS, "correct", user, notice, NOUN)
    existing = drafting.of_week(notice.compound_id, notice.iso_year, notice.iso_week, S.DRAFT)
    if existing is not None:
        if existing.corrects_id == notice.id:
            return existing
        raise Conflict("这一周已有草稿", code="draft_exists", errors={"notice_id": existing.id})
    now = utcnow()
    draft, _created = drafting.insert_draft(dict(
        compound_id=notice.compound_id, iso_year=notice.iso_year, iso_week=notice.iso_week,
        version=drafting.next_version(notice.compound_id, notice.iso_year, notice.iso_week),
        status=S.DRAFT, sections=dict(notice.sections or {}), snapshot=notice.snapshot,
        corrects_id=notice.id, correction_note=note, author_id=user.id, created_at=now,
        updated_at=now))
    db.session.commit()
    return draft


def withdraw(user: User, notice_id: int, reason: str) -> Notice:
    notice = get_visible(user, notice_id, for_update=True)
    transitions.check(TRANSITIONS, "withdraw", user, notice, NOUN)
    now = utcnow()
    notice.status = S.WITHDRAWN
    notice.withdrawn_at, notice.withdrawn_by_id, notice.withdraw_reason = now, user.id, reason
    notice.updated_at = now
    db.session.commit()
    return notice
