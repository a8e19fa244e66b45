"""The wish timers, each read through `Wish.due_at` and its status (index `ix_wishes_due`):

- `sweep_claims`: a claim reminds its claimer on day WISH_CLAIM_REMIND_DAYS and is released
  at WISH_CLAIM_DAYS, both sides told (the claim job);
- `expire_published`: a published wish with no claim for WISH_EXPIRY_DAYS expires, the
  requester told;
- `flag_unconfirmed`: a fulfilled wish not confirmed in WISH_CONFIRM_DAYS goes to the
  secretary's queue (`unconfirmed_at`), the secretaries told. It is never completed, and
  nobody earns points, by a timer.

Set-based, a batch at a time: due rows are read through the index and locked
`FOR UPDATE SKIP LOCKED`, their states change in one UPDATE per batch, their timeline events
are one INSERT ... SELECT and their messages one INSERT per template, with the same events,
payloads and dedupe keys as the flow writes for one wish. Every row handled leaves the due
set (a new status, or `due_at` moved past now). A wish someone is acting on right now (a
fulfil racing the release) is locked and left for the next run, which sees what that
action made of it; a wish the job locked first makes that action wait, and it then finds
the new state (409 `invalid_transition`).

- On PostgreSQL the claim job cuts the due claims into stretches of BATCH ids and does all
  of a stretch in ONE statement (data-modifying CTEs: lock, release or remind, events,
  messages built in SQL; `_sweep_claims_sql`), so no row crosses the wire. A catch-up of
  more than one stretch is shared between WISH_JOB_WORKERS connections (`_in_parallel`).
- Elsewhere (`sweep_claims_rows`, SQLite) and in the other two jobs the rows are read as
  plain rows in `(due_at, id)` order, each batch reading on from the last one's, and the
  messages go through `outbox.notify_many`.

They flush and never commit (the job's runner does, in one transaction), except the claim
job's other connections, each of which commits its own stretches (rolls back in a dry run).
"""
from __future__ import annotations

import threading
from datetime import datetime
from types import SimpleNamespace

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.models import Building, Compound, DeliveryStatus, Wish, WishStatus
from app.models.base import utcnow
from app.services.names import looked_up
from app.services.notifications import outbox, templates
from app.services.notifications.outbox import notify_many
from app.services.wishes import flow
from app.services.wishes.timeline import (
    among,
    record_many,
    reminder,
    secretaries,
    to_claimer,
    to_requester,
    to_secretaries,
)

S = WishStatus
BATCH = 2500
wishes, buildings, compounds = Wish.__table__, Building.__table__, Compound.__table__
COLUMNS = tuple(wishes.c[name] for name in (
    "id", "title", "requester_id", "poster_id", "claimer_id", "claim_count",
    "claim_expires_at", "fulfilled_at", "compound_id", "due_at"))
EXPIRED_CLAIM_NOTE = "认领已超过期限，心愿已重新开放认领"
RELEASE_EVENT = ("claim_expired", S.CLAIMED, S.PUBLISHED, "认领超时，自动释放")


def _batches(status: WishStatus, now: datetime, *extra: sa.ColumnElement):
    """Due rows of a status, oldest deadline first, a locked batch at a time. Each batch
    starts after the last one's (due_at, id), so the index is read once over the run (the
    rows a batch moved leave dead index entries behind it, not in front of it)."""
    query = (sa.select(*COLUMNS, *extra).where(wishes.c.status == status,
                                               wishes.c.due_at <= now)
             .order_by(wishes.c.due_at, wishes.c.id).limit(BATCH)
             .with_for_update(skip_locked=True, of=wishes))
    after = query.where(sa.tuple_(wishes.c.due_at, wishes.c.id)
                        > sa.tuple_(sa.bindparam("due_at", type_=wishes.c.due_at.type),
                                    sa.bindparam("id", type_=sa.Integer)))
    rows = db.session.execute(query).all()
    while rows:
        yield rows
        rows = db.session.execute(after, {"due_at": rows[-1].due_at,
                                          "id": rows[-1].id}).all()


def _update(ids: list[int], **values) -> None:
    db.session.execute(sa.update(wishes).where(among(wishes.c.id, ids)).values(**values))


def sweep_claims(now: datetime | None = None, dry_run: bool = False) -> dict:
    now = now or utcnow()
    if db.session.get_bind().dialect.name == "postgresql":
        return _sweep_claims_sql(now, dry_run)
    return sweep_claims_rows(now)


def sweep_claims_rows(now: datetime) -> dict:
    """The portable claim job (SQLite): rows read into Python, messages built there."""
    at = now.isoformat()
    reminded = released = 0
    for rows in _batches(S.CLAIMED, now):
        ending = [row for row in rows if row.claim_expires_at <= now]
        due = [row for row in rows if row.claim_expires_at > now]
        if ending:
            _update([row.id for row in ending], **flow.released(now))
            record_many([row.id for row in ending], *RELEASE_EVENT, now)
            notify_many("wish_update", [
                to_requester(row, f"claim_expired-{row.claim_count}", S.PUBLISHED.label,
                             flow.RELEASED_NOTE, at) for row in ending])
            notify_many("wish_claim_update", [
                to_claimer(row.claimer_id, row, f"claim_expired-{row.claim_count}", "已释放",
                           EXPIRED_CLAIM_NOTE, at) for row in ending])
            released += len(ending)
        if due:  # the reminder, then nothing until the claim runs out
            _update([row.id for row in due], due_at=wishes.c.claim_expires_at)
            reminded += notify_many("wish_claim_reminder", [reminder(row) for row in due])
    return {"reminded": reminded, "released": released}


# --- the claim job on PostgreSQL: id ranges, one statement each, two connections --------
# The due claims are first cut into ranges of BATCH ids, in id order (`RANGES_SQL`,
# through `ix_wishes_due`; only each range's first and last id leave the server). Each
# range is locked, released or reminded, its events and its messages written by one
# statement of data-modifying CTEs: no row crosses the wire,
# nothing is built per row in Python. A range is a stretch of the table read in id order,
# so the UPDATE walks the heap and the id-ordered indexes forward instead of jumping
# (measured: the same release in random order took twice as long). With more than one range
# the ranges are shared out between WISH_JOB_WORKERS connections, each in its own
# transaction over its own stretch of ids (`_in_parallel`): a catch-up of tens of
# thousands of claims uses two CPUs of the server.
# The columns a release sets come from `flow.released`, the messages' constant parts
# (statuses, notes, their keys) from the timeline's own functions applied to a sample row
# (`_sample`), and the per-row parts are the same expressions in SQL (the dedupe keys
# `wish:<id>:<event>:<user>`, the deadline as `datetime.isoformat()` writes it); the tests
# compare the two ways row for row (tests/jobs/test_wish_claims_sql.py).
ISO = ("to_char({0}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN to_char({0}, 'US') = '000000' "
       "THEN '' ELSE '.' || to_char({0}, 'US') END || '+00:00'")
QUEUE = f"INSERT INTO notifications ({', '.join(outbox.COLUMNS)})"


def _told(name: str, user: str, template: str, status: str, note: str, where: str = "") -> str:
    """The CTE that queues `template` to `user` (a column of `ending`) about each released
    wish: the key and the payload `timeline.to_requester` / `to_claimer` write."""
    return f"""{name} AS (
  {QUEUE}
  SELECT {user}, 'wish:' || id || '\\:claim_expired-' || claim_count || ':' || {user},
         json_build_object('wish_id', id, 'title', title, 'status', CAST(:{status} AS text),
                           'note', CAST(:{note} AS text), 'at', CAST(:at AS text)),
         '{template}', :pending, 0, :queued, :queued
  FROM ending {where} ORDER BY id
  ON CONFLICT (dedupe_key) DO NOTHING),"""


CLAIMS_SQL = f"""
WITH batch AS (
  SELECT id, title, claimer_id, claim_count, claim_expires_at,
         coalesce(requester_id, poster_id) AS side
  FROM wishes WHERE id BETWEEN :lo AND :hi AND status = :claimed AND due_at <= :now
  ORDER BY id FOR UPDATE SKIP LOCKED),
ending AS (SELECT * FROM batch WHERE claim_expires_at <= :now),
due AS (SELECT * FROM batch WHERE claim_expires_at > :now),
released AS (UPDATE wishes SET {{release}} FROM ending WHERE wishes.id = ending.id),
recorded AS (
  INSERT INTO wish_events (wish_id, actor_id, action, from_status, to_status, note,
                           photo_ids, created_at)
  SELECT id, NULL, :action, :claimed, :published, :event_note, CAST('[]' AS json), :now
  FROM ending ORDER BY id),
{_told("told_requester", "side", "wish_update", "r_status", "r_note")}
{_told("told_claimer", "claimer_id", "wish_claim_update", "c_status", "c_note",
       "WHERE claimer_id <> side")}
moved AS (UPDATE wishes SET due_at = due.claim_expires_at, updated_at = :set_updated_at
          FROM due WHERE wishes.id = due.id),
reminded AS (
  {QUEUE}
  SELECT claimer_id, 'wish:' || id || ':remind:' || deadline || ':' || claimer_id,
         json_build_object('wish_id', id, 'title', title, 'deadline', deadline,
                           'note', CAST(:m_note AS text)),
         'wish_claim_reminder', :pending, 0, :queued, :queued
  FROM (SELECT *, {ISO.format("claim_expires_at")} AS deadline FROM due) d
  ORDER BY id
  ON CONFLICT (dedupe_key) DO NOTHING RETURNING 1)
SELECT (SELECT count(*) FROM ending) AS released, (SELECT count(*) FROM reminded) AS reminded
"""


# The due claims cut into stretches of BATCH ids, first and last id of each, in id order.
RANGES_SQL = sa.text("""
SELECT min(id), max(id) FROM (
  SELECT id, (row_number() OVER (ORDER BY id) - 1) / :batch AS k
  FROM wishes WHERE status = :claimed AND due_at <= :now) due
GROUP BY k ORDER BY k""").bindparams(sa.bindparam("now", type_=wishes.c.due_at.type))


def _sample():
    """A stand-in row for the timeline's message functions: what they return for it gives
    the constant parts of the job's messages and the keys each payload has."""
    return SimpleNamespace(id=0, title="", requester_id=1, poster_id=1, claimer_id=2,
                           claim_count=1, claim_expires_at=utcnow())


def _claims_statement(now: datetime) -> sa.TextClause:
    release = {**flow.released(now), "updated_at": utcnow()}
    text = sa.text(CLAIMS_SQL.replace("{release}", ", ".join(
        f"{name} = :set_{name}" for name in release)))
    types = {"now": wishes.c.due_at.type, "queued": wishes.c.due_at.type,
             **{f"set_{name}": wishes.c[name].type for name in release}}
    return text.bindparams(*(sa.bindparam(name, type_=kind) for name, kind in types.items()),
                           **{f"set_{name}": value for name, value in release.items()}) \
        .columns(released=sa.Integer, reminded=sa.Integer)


def _claims_params(now: datetime) -> dict:
    """The statement's constant parameters: the messages' parts from the timeline's own
    functions, checked against their templates as `notify_many` checks every payload."""
    sample = _sample()
    event = f"claim_expired-{sample.claim_count}"
    told = to_requester(sample, event, S.PUBLISHED.label, flow.RELEASED_NOTE, now.isoformat())
    claimer = to_claimer(sample.claimer_id, sample, event, "已释放", EXPIRED_CLAIM_NOTE,
                         now.isoformat())
    remind = reminder(sample)
    for key, (_, payload, _) in (("wish_update", told), ("wish_claim_update", claimer),
                                 ("wish_claim_reminder", remind)):
        templates.check_payload(templates.get(key), payload)
    action, was, becomes, note = RELEASE_EVENT
    return {"claimed": was.value, "published": becomes.value, "action": action,
            "event_note": note, "now": now, "at": now.isoformat(),
            "r_status": told[1]["status"], "r_note": told[1]["note"],
            "c_status": claimer[1]["status"], "c_note": claimer[1]["note"],
            "m_note": remind[1]["note"], "pending": DeliveryStatus.PENDING.value}


def _sweep_claims_sql(now: datetime, dry_run: bool = False) -> dict:
    ranges = db.session.execute(RANGES_SQL, {"claimed": S.CLAIMED.value, "now": now,
                                             "batch": BATCH}).all()
    statement, params = _claims_statement(now), _claims_params(now)

    def sweep(share: list[tuple[int, int]]) -> dict:
        done = {"reminded": 0, "released": 0}
        for lo, hi in share:
            found = db.session.execute(statement, {**params, "lo": lo, "hi": hi,
                                                   "queued": utcnow()}).one()
            done["reminded"] += found.reminded
            done["released"] += found.released
        return done

    # Consecutive ranges to each worker, as evenly as they go (ceil); none due: one empty share.
    size = -(-len(ranges) // max(1, current_app.config["WISH_JOB_WORKERS"])) or 1
    shares = [ranges[k:k + size] for k in range(0, len(ranges), size)] or [[]]
    done = _in_parallel(sweep, shares, dry_run)
    return {key: sum(share[key] for share in done) for key in ("reminded", "released")}


def _in_parallel(work, shares: list, dry_run: bool) -> list:
    """`work(share)` for each share: the first in this session (the job's transaction, which
    its runner commits), each other one in a thread with its own app context, session and
    transaction, committed when its share is done (rolled back in a dry run). The shares
    must touch disjoint rows. The first error of any share is raised once all have ended;
    a share that committed stays done, and the next run finds what is left."""
    app, results = current_app._get_current_object(), [None] * len(shares)

    def own(k: int) -> None:
        try:
            with app.app_context():
                results[k] = work(shares[k])
                (db.session.rollback if dry_run else db.session.commit)()
        except BaseException as error:  # re-raised in the job's thread below
            results[k] = error

    threads = [threading.Thread(target=own, args=(k,), name=f"wish-claims-{k}")
               for k in range(1, len(shares))]
    for thread in threads:
        thread.start()
    try:
        results[0] = work(shares[0])
    finally:
        for thread in threads:
            thread.join()
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def expire_published(now: datetime | None = None) -> dict:
    now = now or utcnow()
    at = now.isoformat()
    expired = 0
    for rows in _batches(S.PUBLISHED, now):
        _update([row.id for row in rows], status=S.EXPIRED, closed_at=now, due_at=None)
        record_many([row.id for row in rows], "expire", S.PUBLISHED, S.EXPIRED,
                    "长时间无人认领，已过期", now)
        notify_many("wish_update", [
            to_requester(row, "expired", S.EXPIRED.label, "长时间无人认领，可以修改后重新发布", at)
            for row in rows])
        expired += len(rows)
    return {"expired": expired}


PLACE = (looked_up(compounds.c.name, compounds.c.id, wishes.c.compound_id, "compound_name"),
         looked_up(buildings.c.name, buildings.c.id, wishes.c.building_id, "building_name"))


def flag_unconfirmed(now: datetime | None = None) -> dict:
    now = now or utcnow()
    at = now.isoformat()
    flagged = 0
    for rows in _batches(S.FULFILLED, now, *PLACE):
        _update([row.id for row in rows], unconfirmed_at=now, due_at=None)
        record_many([row.id for row in rows], "unconfirmed", S.FULFILLED, S.FULFILLED,
                    "完成后超过期限未确认，已转小区书记跟进", now)
        told = secretaries(row.compound_id for row in rows)
        notify_many("wish_attention", [
            message for row in rows for message in to_secretaries(
                row, told.get(row.compound_id, []), row.compound_name + row.building_name,
                f"unconfirmed-{flow.stamp(row.fulfilled_at)}", "超时未确认",
                "请联系居民核实后代为确认或提出异议", at)])
        flagged += len(rows)
    return {"flagged": flagged}
