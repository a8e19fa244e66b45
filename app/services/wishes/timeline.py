"""A wish's timeline and what it tells people, for one wish (the flow) and for a batch (the
jobs), built by the same functions so both write the same events and the same messages:

- events: `record` (one WishEvent through the session), `record_many` (one event for many
  wishes, one INSERT ... SELECT; `among` is the batch's `id IN ...`);
- messages: `to_requester`, `to_claimer`, `reminder`, `to_secretaries` build the outbox rows
  `(user_id, payload, dedupe_key)`, deduplicated per wish, event and user; `tell_requester`,
  `tell_claimer`, `remind_claimer`, `tell_secretaries` queue them for one wish;
  `secretaries` finds the secretaries of many compounds in one query; `place` and
  `requester_side` are what the messages say and whom they go to.

A "wish" here is anything with the wish's column attributes: a `Wish`, or a Core row of the
`wishes` table (the jobs read rows, not objects). Everything flushes in the caller's
transaction, never commits.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from app.extensions import db
from app.models import Role, RoleGrant, ScopeKind, User, Wish, WishEvent
from app.models.base import utcnow
from app.services.notifications.outbox import notify_many

Message = tuple[int, dict, str]  # an outbox row: (user_id, payload, dedupe_key)
events, wishes = WishEvent.__table__, Wish.__table__


def record(wish: Wish, actor: User | None, action: str, from_status=None,
           note: str | None = None, photo_ids: list[int] | None = None) -> WishEvent:
    event = WishEvent(wish_id=wish.id, actor_id=actor.id if actor else None, action=action,
                      note=note, photo_ids=photo_ids or [],
                      from_status=from_status.value if from_status else None,
                      to_status=wish.status.value, created_at=utcnow())
    db.session.add(event)
    return event


def among(column: sa.ColumnElement, ids: list[int]) -> sa.ColumnElement:
    """`column IN ids` for a batch: on PostgreSQL `= ANY(<one array parameter>)`, so the
    statement text stays the same whatever the batch (prepared and parsed once) instead of a
    thousand placeholders psycopg must parse every time."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == sa.any_(sa.literal(list(ids), postgresql.ARRAY(sa.Integer)))
    return column.in_(ids)


def record_many(wish_ids: list[int], action: str, from_status, to_status,
                note: str | None, at: datetime) -> None:
    """The same system event (no actor, no photos) for many wishes, as one INSERT ... SELECT
    over their ids: nothing per row crosses the wire (flushes)."""
    if not wish_ids:
        return
    source = sa.select(
        wishes.c.id, sa.null(), sa.literal(action, sa.String),
        sa.literal(from_status.value, sa.String), sa.literal(to_status.value, sa.String),
        sa.literal(note, sa.String), sa.literal([], sa.JSON),
        sa.literal(at, events.c.created_at.type)).where(among(wishes.c.id, wish_ids))
    db.session.execute(sa.insert(events).from_select(
        ["wish_id", "actor_id", "action", "from_status", "to_status", "note", "photo_ids",
         "created_at"], source))


def place(wish: Wish) -> str:
    return f"{wish.building.compound.name}{wish.building.name}"


def _payload(wish, status: str, note: str | None, at: str | None = None) -> dict:
    return {"wish_id": wish.id, "title": wish.title, "status": status,
            "note": note or status, "at": at or utcnow().isoformat()}


def requester_side(wish) -> int:
    """Whom to tell on the requester's side: the requester, or for a household posted for,
    its poster (who tells the household)."""
    return wish.requester_id if wish.requester_id is not None else wish.poster_id


def to_requester(wish, event: str, status: str, note: str | None = None,
                 at: str | None = None) -> Message:
    user_id = requester_side(wish)
    return (user_id, _payload(wish, status, note, at), f"wish:{wish.id}:{event}:{user_id}")


def to_claimer(user_id: int, wish, event: str, status: str, note: str | None = None,
               at: str | None = None) -> Message:
    return (user_id, _payload(wish, status, note, at), f"wish:{wish.id}:{event}:{user_id}")


def reminder(wish) -> Message:
    """The claim's reminder, once per claim window (its deadline names it)."""
    deadline = wish.claim_expires_at.isoformat()
    return (wish.claimer_id, {"wish_id": wish.id, "title": wish.title, "deadline": deadline,
                              "note": "逾期未完成将自动释放，让其他志愿者认领"},
            f"wish:{wish.id}:remind:{deadline}:{wish.claimer_id}")


def secretaries(compound_ids) -> dict[int, list[int]]:
    """{compound: [its secretaries' user ids]} in one query."""
    found: dict[int, list[int]] = defaultdict(list)
    for compound_id, user_id in db.session.execute(
            sa.select(RoleGrant.scope_id, RoleGrant.user_id).where(
                RoleGrant.role == Role.SECRETARY, RoleGrant.scope_kind == ScopeKind.COMPOUND,
                RoleGrant.scope_id.in_(set(compound_ids))).order_by(RoleGrant.id)):
        found[compound_id].append(user_id)
    return found


def to_secretaries(wish, user_ids: list[int], where: str, event: str, what: str,
                   note: str | None = None, at: str | None = None) -> list[Message]:
    """The compound's secretaries: a wish to review, a dispute, a wish left unconfirmed;
    `where` is its `place`."""
    payload = {"wish_id": wish.id, "title": wish.title, "place": where, "event": what,
               "note": note or what, "at": at or utcnow().isoformat()}
    return [(user_id, payload, f"wish:{wish.id}:{event}:{user_id}") for user_id in user_ids]


def tell_requester(wish: Wish, event: str, status: str, note: str | None = None) -> None:
    notify_many("wish_update", [to_requester(wish, event, status, note)])


def tell_claimer(user_id: int | None, wish: Wish, event: str, status: str,
                 note: str | None = None) -> None:
    if user_id is not None:
        notify_many("wish_claim_update", [to_claimer(user_id, wish, event, status, note)])


def remind_claimer(wish: Wish) -> bool:
    return notify_many("wish_claim_reminder", [reminder(wish)]) == 1


def tell_secretaries(wish: Wish, event: str, what: str, note: str | None = None) -> int:
    user_ids = secretaries([wish.compound_id]).get(wish.compound_id, [])
    return notify_many("wish_attention",
                       to_secretaries(wish, user_ids, place(wish), event, what, note))
