"""A wish's timeline and what it tells people: `record` (one WishEvent), `place` (how a wish
is located in messages), `tell_requester`, `tell_claimer`, `tell_secretaries` (queue a
notification, deduplicated per wish, event and user). Everything flushes in the caller's
transaction, never commits.
"""
from __future__ import annotations

from app.extensions import db
from app.models import Role, ScopeKind, User, Wish, WishEvent
from app.models.base import utcnow
from app.services.notifications.outbox import notify
from app.services.permissions import grantees


def record(wish: Wish, actor: User | None, action: str, from_status=None,
           note: str | None = None, photo_ids: list[int] | None = None) -> WishEvent:
    event = WishEvent(wish_id=wish.id, actor_id=actor.id if actor else None, action=action,
                      note=note, photo_ids=photo_ids or [],
                      from_status=from_status.value if from_status else None,
                      to_status=wish.status.value, created_at=utcnow())
    db.session.add(event)
    return event


def place(wish: Wish) -> str:
    return f"{wish.building.compound.name}{wish.building.name}"


def _payload(wish: Wish, status: str, note: str | None) -> dict:
    return {"wish_id": wish.id, "title": wish.title, "status": status,
            "note": note or status, "at": utcnow().isoformat()}


def requester_side(wish: Wish) -> int:
    """Whom to tell on the requester's side: the requester, or for a household posted for,
    its poster (who tells the household)."""
    return wish.requester_id if wish.requester_id is not None else wish.poster_id


def tell_requester(wish: Wish, event: str, status: str, note: str | None = None) -> None:
    user_id = requester_side(wish)
    notify(user_id, "wish_update", _payload(wish, status, note),
           dedupe_key=f"wish:{wish.id}:{event}:{user_id}")


def tell_claimer(user_id: int | None, wish: Wish, event: str, status: str,
                 note: str | None = None) -> None:
    if user_id is None:
        return
    notify(user_id, "wish_claim_update", _payload(wish, status, note),
           dedupe_key=f"wish:{wish.id}:{event}:{user_id}")


def remind_claimer(wish: Wish) -> bool:
    """The claim's reminder, once per claim window (its deadline names it)."""
    deadline = wish.claim_expires_at
    return notify(wish.claimer_id, "wish_claim_reminder",
                  {"wish_id": wish.id, "title": wish.title, "deadline": deadline.isoformat(),
                   "note": "逾期未完成将自动释放，让其他志愿者认领"},
                  dedupe_key=f"wish:{wish.id}:remind:{deadline.isoformat()}:{wish.claimer_id}")


def tell_secretaries(wish: Wish, event: str, what: str, note: str | None = None) -> int:
    """The compound's secretaries: a wish to review, a dispute, a wish left unconfirmed."""
    told = 0
    for user_id in grantees(Role.SECRETARY, ScopeKind.COMPOUND, wish.compound_id):
        told += notify(user_id, "wish_attention",
                       {"wish_id": wish.id, "title": wish.title, "place": place(wish),
                        "event": what, "note": note or what, "at": utcnow().isoformat()},
                       dedupe_key=f"wish:{wish.id}:{event}:{user_id}")
    return told
