"""双报到: a party member registers at a home community; the community's staff confirm or
reject (one transition table).

A member has at most one confirmed registration and one pending (partial unique indexes).
Registering again replaces the pending one (it is `ended`); registering elsewhere while
confirmed is a transfer: the new registration waits, and when it is confirmed the old one
is `ended`, so the history stays. Confirming sets the member's `PartyMember` profile
(`registered_community_id`, `registered_at`), creating it as an in-service member if the
member has none. The member is told the result (`party_update`).

Lock order: the member's user row (every change to one member's registrations), then the
registration.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    Community,
    PartyMember,
    PartyMemberKind,
    PartyRegistration,
    RegistrationStatus,
    Role,
    User,
)
from app.models.base import utcnow
from app.services import transitions
from app.services.notifications.outbox import notify
from app.services.pagination import paginate
from app.services.permissions import has_role, not_for_oneself
from app.services.transitions import Rule

R = RegistrationStatus


def _staff(user: User, registration: PartyRegistration) -> bool:
    return has_role(user, Role.STAFF, registration)


TRANSITIONS: dict[str, Rule] = {
    "confirm": Rule((R.PENDING,), _staff, records=False),
    "reject": Rule((R.PENDING,), _staff, records=False),
}


def lock_member(user_id: int) -> None:
    """Serialise one member's registrations, sign-ups and logs (flushes nothing)."""
    db.session.execute(sa.select(User.id).where(User.id == user_id).with_for_update())


def confirmed_community(user_id: int) -> int | None:
    """The community a member is confirmed at now (双报到), if any."""
    return db.session.scalar(sa.select(PartyRegistration.community_id).where(
        PartyRegistration.user_id == user_id, PartyRegistration.status == R.CONFIRMED))


def register(user: User, community_id: int, employer: str,
             skills: str | None = None) -> PartyRegistration:
    """A pending registration at a community, by a party member. One transaction."""
    if not has_role(user, Role.PARTY_MEMBER):
        raise Forbidden("只有党员可以报到", code="not_party_member")
    if db.session.get(Community, community_id) is None:
        raise NotFound("社区不存在", code="community_not_found")
    lock_member(user.id)
    if confirmed_community(user.id) == community_id:
        raise Conflict("你已在该社区报到", code="already_registered")
    now = utcnow()
    db.session.execute(sa.update(PartyRegistration).where(
        PartyRegistration.user_id == user.id, PartyRegistration.status == R.PENDING)
        .values(status=R.ENDED, ended_at=now).execution_options(synchronize_session=False))
    registration = PartyRegistration(user_id=user.id, community_id=community_id,
                                     employer=employer, skills=skills, status=R.PENDING,
                                     created_at=now)
    db.session.add(registration)
    db.session.commit()
    return registration


def get_visible(user: User, registration_id: int) -> PartyRegistration:
    """The registration if the user is its member or staff of its community (404 otherwise)."""
    registration = db.session.get(PartyRegistration, registration_id)
    if registration is None or not (registration.user_id == user.id
                                    or _staff(user, registration)):
        raise NotFound("报到记录不存在", code="registration_not_found")
    return registration


def transition(actor: User, registration_id: int, action: str,
               note: str | None = None) -> PartyRegistration:
    """confirm | reject (a reason required), by staff of the community. One transaction."""
    registration = get_visible(actor, registration_id)
    lock_member(registration.user_id)
    db.session.refresh(registration)  # as it is now, under the member's lock
    transitions.check(TRANSITIONS, action, actor, registration, "报到")
    not_for_oneself(actor, registration.user_id, "不能审核自己的报到")
    now = utcnow()
    if action == "confirm":
        _end_confirmed(registration.user_id, now)
        db.session.flush()  # the old one ended before the new one takes the unique slot
        registration.status = R.CONFIRMED
        _profile(registration, now)
        result = "已确认"
    else:
        if not note:
            raise ValidationFailed("请说明不通过的原因", code="validation_error",
                                   errors={"json": {"note": ["此项为必填项"]}})
        registration.status = R.REJECTED
        result = "未通过"
    registration.decided_by_id, registration.decided_at, registration.note = actor.id, now, note
    notify(registration.user_id, "party_update", {
        "title": f"双报到{result}", "note": note or registration.community.name,
        "at": now.isoformat()}, dedupe_key=f"party:registration:{registration.id}:{action}")
    db.session.commit()
    return registration


def _end_confirmed(user_id: int, now) -> None:
    db.session.execute(sa.update(PartyRegistration).where(
        PartyRegistration.user_id == user_id, PartyRegistration.status == R.CONFIRMED)
        .values(status=R.ENDED, ended_at=now).execution_options(synchronize_session=False))


def _profile(registration: PartyRegistration, now) -> None:
    profile = db.session.get(PartyMember, registration.user_id)
    if profile is None:
        profile = PartyMember(user_id=registration.user_id, kind=PartyMemberKind.IN_SERVICE)
        db.session.add(profile)
    profile.registered_community_id, profile.registered_at = registration.community_id, now


def list_registrations(user: User, community_id: int, status: str | None, cursor: str | None,
                       limit: int) -> dict:
    """Staff's list of a community's registrations (newest first), by status."""
    community = db.session.get(Community, community_id)
    if community is None:
        raise NotFound("社区不存在", code="community_not_found")
    if not has_role(user, Role.STAFF, community):
        raise Forbidden()
    query = (sa.select(PartyRegistration).where(PartyRegistration.community_id == community_id)
             .options(orm.selectinload(PartyRegistration.user),
                      orm.selectinload(PartyRegistration.community)))
    if status:
        query = query.where(PartyRegistration.status == R(status))
    return paginate(query, PartyRegistration.id, cursor, limit, descending=True)


def staff_community(user: User, community_id: int) -> Community:
    """The community, for its staff (and admin): 404 `community_not_found`, else 403."""
    community = db.session.get(Community, community_id)
    if community is None:
        raise NotFound("社区不存在", code="community_not_found")
    if not has_role(user, Role.STAFF, community):
        raise Forbidden()
    return community
