"""The points ledger: every way of earning and spending, in one append-only table.

Points are money-like, so two rules hold whatever the concurrency:
- an award is never counted twice: every entry carries a unique idempotency key named after
  the event (`incident_confirmed:123`), inserted inside a savepoint;
- a balance never goes below zero: every entry is written under the account's row lock
  (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite transactions hold the write lock from
  BEGIN), which serialises writers of one account, and a CHECK constraint backs it up.

`award`, `spend`, `refund` and `lock_account` are building blocks for other services: like
`notify()` they flush in the caller's transaction and never commit. `adjust`,
`set_ranking_public` are whole transactions; `ledger`, `verify` only read (the monthly
ranking is in app.services.points.rankings).

Lock order, everywhere points move: the account row, then the redemption, then the reward.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    Building,
    Community,
    Compound,
    Household,
    Incident,
    LedgerEntry,
    PartyMember,
    PointsAccount,
    PointsRule,
    Role,
    User,
)
from app.models.base import utcnow
from app.services.common import insert_or_get
from app.services.notifications.outbox import notify
from app.services.pagination import paginate
from app.services.permissions import has_role, not_for_oneself

log = logging.getLogger(__name__)

EARN, SPEND, REFUND, ADJUST = "earn", "spend", "refund", "adjust"


@dataclass(frozen=True)
class RuleSpec:
    rule: PointsRule
    kind: str  # earn | spend | refund | adjust
    points: int | None  # default points per unit (POINTS_RULES overrides); None: caller says
    ref_kind: str | None  # what `ref_id` names, e.g. "incident"
    ranked: bool  # counts toward the monthly ranking (每月一星)


# Every way of earning and spending, in one place.
RULES: dict[PointsRule, RuleSpec] = {s.rule: s for s in (
    RuleSpec(PointsRule.INCIDENT_CONFIRMED, EARN, 10, "incident", True),
    RuleSpec(PointsRule.WISH_FULFILLED, EARN, 20, "wish", True),
    RuleSpec(PointsRule.VOLUNTEER_HOUR, EARN, 5, "volunteer", True),  # per hour
    RuleSpec(PointsRule.CANTEEN_BOOKING, SPEND, 10, "booking", False),  # per meal
    RuleSpec(PointsRule.CANTEEN_REFUND, REFUND, None, "booking", False),
    RuleSpec(PointsRule.REDEMPTION, SPEND, None, "redemption", False),
    RuleSpec(PointsRule.REDEMPTION_REFUND, REFUND, None, "redemption", False),
    RuleSpec(PointsRule.ADJUSTMENT, ADJUST, None, None, True),
)}
RANKED_RULES = [s.rule for s in RULES.values() if s.ranked]
MAX_ADJUSTMENT = 100_000


def rule_points(rule: PointsRule) -> int:
    """Points per unit for a rule with a configurable amount (config `POINTS_RULES` wins)."""
    spec = RULES[rule]
    overrides = current_app.config.get("POINTS_RULES") or {}
    value = overrides.get(rule.value, spec.points)
    if spec.points is None or not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise RuntimeError(f"POINTS_RULES[{rule.value!r}] must be a positive integer "
                           f"(and the rule must have a configurable amount), not {value!r}")
    return value


def amount_for(rule: PointsRule, units: int | Decimal = 1) -> int:
    """Points for `units` of a rule (hours, meals), rounded half up to whole points."""
    total = Decimal(rule_points(rule)) * Decimal(str(units))
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def insufficient(balance: int, needed: int) -> Conflict:
    return Conflict(f"积分不足：需要 {needed} 积分，当前余额 {balance} 积分",
                    code="insufficient_points", errors={"balance": balance, "needed": needed})


# --- building blocks (flush only) -------------------------------------------------------

def lock_account(user_id: int) -> PointsAccount:
    """The user's account, created if new, locked until the transaction ends."""
    query = (sa.select(PointsAccount).where(PointsAccount.user_id == user_id)
             .with_for_update().execution_options(populate_existing=True))
    account = db.session.scalar(query)
    if account is None:
        insert_or_get(PointsAccount, user_id=user_id)  # race-safe: one row per user
        account = db.session.scalar(query)
    return account


def post(user_id: int, rule: PointsRule, amount: int, key: str, ref: str | None = None,
         actor_id: int | None = None, note: str | None = None,
         at: datetime | None = None) -> tuple[LedgerEntry, bool]:
    """Append one entry and move the cached balance with it; (entry, created).

    An entry with this key already there is returned unchanged (created False): the same
    event is counted once however often, and however simultaneously, it is reported.
    `at` backdates the entry (the demo's history only; post entries in time order).
    """
    if amount == 0:
        raise ValueError("a ledger entry moves at least one point")
    account = lock_account(user_id)
    # Under the lock: a concurrent post with the same key has committed or not begun.
    existing = _by_key(key)
    if existing is not None:
        return _same_account(existing, user_id), False
    balance = account.balance + amount
    if balance < 0:
        raise insufficient(account.balance, -amount)
    entry = LedgerEntry(account_id=user_id, amount=amount, balance_after=balance, rule=rule,
                        ref=ref, idempotency_key=key, actor_id=actor_id,
                        note=note[:200] if note else None, created_at=at or utcnow())
    try:
        with db.session.begin_nested():
            db.session.add(entry)
    except IntegrityError:
        # Only a key posted for another account can get here (ours is locked); still, the
        # key's unique index is the last word on "counted once".
        existing = _by_key(key)
        if existing is None:
            raise
        return _same_account(existing, user_id), False
    account.balance, account.version, account.updated_at = balance, account.version + 1, utcnow()
    db.session.flush()
    return entry, True


def _by_key(key: str) -> LedgerEntry | None:
    return db.session.scalar(sa.select(LedgerEntry).where(LedgerEntry.idempotency_key == key))


def _same_account(entry: LedgerEntry, user_id: int) -> LedgerEntry:
    if entry.account_id != user_id:  # a caller bug, not a user error: never paper over it
        raise RuntimeError(f"ledger key {entry.idempotency_key!r} belongs to another account")
    return entry


def _ref(spec: RuleSpec, ref_id) -> str | None:
    return None if ref_id is None else f"{spec.ref_kind}:{ref_id}"


def award(user: User | int, rule: PointsRule, ref_id, *, units: int | Decimal = 1,
          key: str | None = None, actor_id: int | None = None,
          note: str | None = None) -> tuple[LedgerEntry, bool]:
    """Credit an earning rule once per event: the key defaults to `<rule>:<ref_id>`.

    E.g. `award(incident.reporter_id, PointsRule.INCIDENT_CONFIRMED, incident.id)` when an
    incident closes as confirmed; `units` are hours for VOLUNTEER_HOUR. A new entry tells the
    person (`points_earned`: the inbox, and a subscribe message while they hold a credit),
    saying what it was for (`describe`).
    """
    spec = RULES[rule]
    if spec.kind != EARN:
        raise ValueError(f"{rule.value} is not an earning rule")
    user_id = user if isinstance(user, int) else user.id
    entry, created = post(user_id, rule, amount_for(rule, units),
                          key or f"{rule.value}:{ref_id}", _ref(spec, ref_id), actor_id, note)
    if created:
        notify(user_id, "points_earned", {
            "reason": describe(entry, ref_details([entry])), "points": entry.amount,
            "balance": entry.balance_after, "at": entry.created_at.isoformat()},
            dedupe_key=f"points:earned:{entry.id}")
    return entry, created


def spend(user: User | int, rule: PointsRule, ref_id, amount: int | None = None, *,
          units: int = 1, key: str | None = None, note: str | None = None) -> LedgerEntry:
    """Take `amount` points (default: the rule's amount x units) or raise 409
    `insufficient_points`. Once per event: the key defaults to `<rule>:<ref_id>`."""
    spec = RULES[rule]
    if spec.kind != SPEND:
        raise ValueError(f"{rule.value} is not a spending rule")
    amount = amount_for(rule, units) if amount is None else amount
    if amount <= 0:
        raise ValueError("spend a positive number of points")
    user_id = user if isinstance(user, int) else user.id
    return post(user_id, rule, -amount, key or f"{rule.value}:{ref_id}", _ref(spec, ref_id),
                note=note)[0]


def refund(user: User | int, rule: PointsRule, ref_id, amount: int, *,
           note: str | None = None) -> tuple[LedgerEntry, bool]:
    """Give back what a spend took, once per event (key `<rule>:<ref_id>`)."""
    spec = RULES[rule]
    if spec.kind != REFUND or amount <= 0:
        raise ValueError(f"{rule.value}: refunds are positive and use a refund rule")
    user_id = user if isinstance(user, int) else user.id
    return post(user_id, rule, amount, f"{rule.value}:{ref_id}", _ref(spec, ref_id), note=note)


def home_community(user: User) -> int | None:
    """The community of the user's verified household (None: not a resident anywhere)."""
    if user.household_id is None:
        return None
    return db.session.scalar(sa.select(Compound.community_id).join(Building).join(Household)
                             .where(Household.id == user.household_id))


def member_communities(user: User) -> set[int]:
    """Communities a user belongs to: their verified home's, and the one they registered at
    (双报到). Redeeming is for the home community only (`home_community`)."""
    ids = set()
    home = home_community(user)
    if home is not None:
        ids.add(home)
    registered = db.session.scalar(sa.select(PartyMember.registered_community_id)
                                   .where(PartyMember.user_id == user.id))
    if registered is not None:
        ids.add(registered)
    return ids


# --- transactions -----------------------------------------------------------------------

def adjust(actor: User, user_id: int, amount: int, reason: str) -> tuple[LedgerEntry, int]:
    """A staff award or deduction, with a reason, by staff of the user's community."""
    target = db.session.get(User, user_id)
    if target is None:
        raise NotFound("用户不存在", code="user_not_found")
    not_for_oneself(actor, target.id, "不能调整自己的积分")
    communities = [db.session.get(Community, cid) for cid in member_communities(target)]
    if not has_role(actor, Role.ADMIN) and \
            not any(has_role(actor, Role.STAFF, c) for c in communities):
        raise Forbidden("只能调整本社区居民的积分", code="not_staff_of_community")
    reason = reason.strip()
    if not reason:
        raise ValidationFailed("请填写调整原因", code="reason_required",
                               errors={"reason": ["此项为必填项"]})
    entry, _ = post(target.id, PointsRule.ADJUSTMENT, amount, f"adjustment:{uuid.uuid4().hex}",
                    ref=f"user:{actor.id}", actor_id=actor.id, note=reason)
    notify(target, "points_adjusted", {"amount": f"{amount:+d}", "reason": reason,
                                       "balance": entry.balance_after,
                                       "at": entry.created_at.isoformat()},
           dedupe_key=f"points:adjusted:{entry.id}")
    db.session.commit()
    # The audit trail is the entry itself (actor, reason, time); the log line is for ops and
    # carries no free text (a reason may name people or their circumstances).
    log.info("points adjustment %+d for user %s by user %s (entry %s)", amount, target.id,
             actor.id, entry.id)
    return entry, entry.balance_after


def set_ranking_public(user: User, ranking_public: bool) -> PointsAccount:
    account = lock_account(user.id)
    account.ranking_public = ranking_public
    db.session.commit()
    return account


# --- reads ------------------------------------------------------------------------------

def account_of(user: User) -> PointsAccount | None:
    return db.session.get(PointsAccount, user.id)


def ledger(user: User, cursor: str | None, limit: int) -> dict:
    """Balance (the cached column: one primary-key read) and the ledger, newest first."""
    account = account_of(user)
    query = sa.select(LedgerEntry).where(LedgerEntry.account_id == user.id)
    page = paginate(query, LedgerEntry.id, cursor, limit, descending=True)
    details = ref_details(page["items"])  # one query for the page, not one per entry
    for entry in page["items"]:
        entry.description = describe(entry, details)
    return {"balance": account.balance if account else 0,
            "ranking_public": account.ranking_public if account else True, **page}


# What a reference names, for entries recorded without a note: ref kind -> the column that
# describes the record (an incident by its description, e.g. "3号楼路灯不亮").
REF_DETAILS = {"incident": (Incident.id, Incident.description)}
DETAIL_CHARS = 40


def ref_details(entries) -> dict[str, str]:
    """`{ref: detail}` for the entries without a note whose ref names a known kind: one
    query per kind, however many entries."""
    wanted: dict[str, set[int]] = {}
    for entry in entries:
        kind, _, ref_id = (entry.ref or "").partition(":")
        if not entry.note and kind in REF_DETAILS and ref_id.isdigit():
            wanted.setdefault(kind, set()).add(int(ref_id))
    details = {}
    for kind, ids in wanted.items():
        key, column = REF_DETAILS[kind]
        for ref_id, text in db.session.execute(sa.select(key, column).where(key.in_(ids))):
            details[f"{kind}:{ref_id}"] = _shorten(text)
    return details


def _shorten(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS - 1] + "…"


def describe(entry: LedgerEntry, details: dict[str, str] | None = None) -> str:
    """Why an entry exists, in Chinese: the rule, and the detail recorded with it (its note)
    or, without one, what its reference names (`ref_details`), e.g.
    "随手拍问题经确认：3号楼路灯不亮"."""
    detail = entry.note or (details or {}).get(entry.ref or "")
    return f"{entry.rule.label}：{detail}" if detail else entry.rule.label


def verify() -> list[dict]:
    """Accounts whose cached balance differs from the sum of their entries, or whose last
    entry's balance_after disagrees, or whose version is not its entry count. Empty means
    the ledger and the cache agree (entries without an account: the foreign key forbids)."""
    sums = (sa.select(LedgerEntry.account_id.label("account_id"),
                      sa.func.sum(LedgerEntry.amount).label("total"),
                      sa.func.count().label("entries"),
                      sa.func.max(LedgerEntry.id).label("last_id"))
            .group_by(LedgerEntry.account_id).subquery())
    last = aliased(LedgerEntry)
    total = sa.func.coalesce(sums.c.total, 0)
    query = (sa.select(PointsAccount.user_id, PointsAccount.balance, PointsAccount.version,
                       total.label("total"), sums.c.entries, last.balance_after)
             .outerjoin(sums, sums.c.account_id == PointsAccount.user_id)
             .outerjoin(last, last.id == sums.c.last_id)
             .where(sa.or_(PointsAccount.balance != total,
                           PointsAccount.version != sa.func.coalesce(sums.c.entries, 0),
                           last.balance_after != PointsAccount.balance,
                           PointsAccount.balance < 0)))
    problems = [{"user_id": r.user_id, "balance": r.balance, "ledger_sum": int(r.total),
                 "version": r.version, "entries": r.entries or 0,
                 "last_balance_after": r.balance_after}
                for r in db.session.execute(query)]
    db.session.rollback()
    return problems
