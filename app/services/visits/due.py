"""Which households and 流动党员 are due a visit, and since when.

A household is owed a visit every `every_days` of the most frequent active rule among its
care tags (ties: the lower rule id); a 流动党员 (a floating party member whose household is
in the compound) one contact every `every_days` of the 流动党员 rule (一月一联), owed by the
compound's secretary. The next visit falls due that many days after the last one, or at once
(from the household's registration, the member's registration) when there was none. Due
means due by the end of today (Asia/Shanghai); overdue means due before today.

Everything is one statement (`_statement`, built once per kind of call and dialect):
- the scope's tagged households, grouped: their most frequent active rule (one aggregate,
  `RULE_IDS`), their tags and their place; UNION ALL the floating members with the 流动党员
  rule (uncorrelated scalar subqueries, evaluated once);
- each subject's last visit: PostgreSQL a LATERAL subquery, SQLite a correlated subquery
  in the join (both one backward probe of the visits (subject, visited_at, id) index);
- its `due_at` computed in SQL (`_plus_days`: an interval on PostgreSQL, text arithmetic
  exact to the microsecond on SQLite);
- filtered when asked (due before a cutoff, owed by a role, after a keyset position),
  ordered by (due_at, households before members, id) and limited; only the rows kept are
  joined to their visitor's name.
`GET /visits/due` reads one page of it (limit + 1 rows; the cursor is
`[due_at timestamp, "household:<id>"|"member:<id>"]`); `compute()` without a limit serves
the digest (`due_today`), the escalation job and the dashboard figures.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from app import fastread, timeutil
from app.errors import Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    Building,
    CareTag,
    Compound,
    Grid,
    Household,
    HouseholdTag,
    PartyMember,
    PartyMemberKind,
    Role,
    ScopeKind,
    User,
    Visit,
    VisitRule,
    VisitSubject,
)
from app.models.base import UTCDateTime, utcnow
from app.services.pagination import decode_cursor, encode_cursor
from app.services.permissions import ScopeKey, Viewer, has_role_in

HOUSEHOLD, MEMBER = 0, 1  # the subjects' rank in the order, after due_at
KINDS = {"household": HOUSEHOLD, "member": MEMBER}
KEY = re.compile(r"(household|member):([0-9]{1,18})")


@dataclass(frozen=True)
class Scope:
    """Buildings by grid ids or by compound ids (neither: everywhere)."""

    grid_ids: frozenset[int] | None = None
    compound_ids: frozenset[int] | None = None


@dataclass
class Due:
    subject: VisitSubject
    subject_id: int  # household id or member (user) id
    compound_id: int
    grid_id: int
    every_days: int
    owed_by: Role
    due_at: datetime  # the last visit + every_days, or when the subject was registered
    last_visit_id: int | None = None
    tags: list[CareTag] = field(default_factory=list)
    place: dict = field(default_factory=dict)  # what the list shows of the subject
    last: dict | None = None  # the last visit: kind, visitor

    @property
    def key(self) -> str:
        return f"{'household' if self.subject is VisitSubject.HOUSEHOLD else 'member'}:" \
               f"{self.subject_id}"


def _plus_days(dialect: str, moment, days) -> sa.ColumnElement:
    """`moment` + `days` whole days, exact to the microsecond, as a UTCDateTime. SQLite keeps
    datetimes as text ("YYYY-MM-DD HH:MM:SS.ffffff") and its date functions round to the
    millisecond (23:59:59.999999 would become the next day): they shift the whole seconds
    only, and the fraction is copied over (a missing one written as .000000, so the text
    compares as the time does)."""
    if dialect == "sqlite":
        text = sa.type_coerce(moment, sa.String)
        shift = sa.literal("+").op("||")(sa.cast(days, sa.String)).op("||")(" days")
        shifted = sa.func.strftime("%Y-%m-%d %H:%M:%S", sa.func.substr(text, 1, 19), shift,
                                   type_=sa.String).op("||")(
            sa.func.substr(text.op("||")(".000000"), 20, 7))
    else:
        shifted = moment + days * sa.literal_column("interval '1 day'", sa.Interval)
    return sa.type_coerce(shifted, UTCDateTime())


def _last_visit(dialect: str, column, owner):
    """The subject's last visit to LEFT JOIN (a from clause, its ON clause and its columns):
    one backward probe of the (subject, visited_at, id) index per subject. PostgreSQL: a
    LATERAL subquery; SQLite (no LATERAL): the visit whose id a correlated subquery finds."""
    if dialect == "postgresql":
        last = sa.select(Visit.id, Visit.visited_at, Visit.kind, Visit.visitor_id).where(
            column == owner).order_by(Visit.visited_at.desc(), Visit.id.desc()).limit(1) \
            .lateral("last")
        return last, sa.true(), last.c
    last = aliased(Visit, name="last")
    probe = sa.select(Visit.id).where(column == owner).order_by(
        Visit.visited_at.desc(), Visit.id.desc()).limit(1).scalar_subquery()
    return last, last.id == probe, last


# A household's most frequent rule in one aggregate: min(every_days * RULE_IDS + rule id),
# the lower rule id breaking a tie; the rule is joined back by id (every_days <= 366).
RULE_IDS = 1_000_000


def _households(dialect: str, where: list) -> sa.Select:
    tagged = (
        sa.select(Household.id, Household.created_at, Household.unit, Household.room,
                  Household.head_name, Building.id.label("building_id"),
                  Building.name.label("building"), Building.compound_id, Building.grid_id,
                  Compound.name.label("compound"),
                  sa.func.min(VisitRule.every_days * RULE_IDS + VisitRule.id).label("best"),
                  sa.func.aggregate_strings(HouseholdTag.tag, ",").label("tags"))
        .join(HouseholdTag, HouseholdTag.household_id == Household.id)
        .join(VisitRule, sa.and_(VisitRule.subject == VisitSubject.HOUSEHOLD,
                                 VisitRule.care_tag == HouseholdTag.tag,
                                 VisitRule.active.is_(True)))
        .join(Building, Building.id == Household.building_id)
        .join(Compound, Compound.id == Building.compound_id)
        .where(*where).group_by(Household.id, Building.id, Compound.id).subquery("tagged"))
    last, on, seen = _last_visit(dialect, Visit.household_id, tagged.c.id)
    every_days = VisitRule.every_days
    return (
        sa.select(sa.literal_column(str(HOUSEHOLD), sa.Integer).label("rank"),
                  tagged.c.id.label("subject_id"), tagged.c.compound_id, tagged.c.grid_id,
                  every_days, VisitRule.owed_by, _plus_days(
                      dialect, sa.func.coalesce(seen.visited_at, tagged.c.created_at),
                      sa.case((seen.id.is_(None), 0), else_=every_days)).label("due_at"),
                  seen.id.label("last_id"), seen.visited_at, seen.kind, seen.visitor_id,
                  tagged.c.tags, tagged.c.unit, tagged.c.room, tagged.c.head_name,
                  tagged.c.building_id, tagged.c.building, tagged.c.compound,
                  sa.cast(sa.null(), sa.String).label("member"))
        .select_from(tagged)
        .join(VisitRule, VisitRule.id == tagged.c.best % RULE_IDS)
        .outerjoin(last, on))


def _members(dialect: str, where: list) -> sa.Select:
    # The 流动党员 rule as uncorrelated scalar subqueries (evaluated once), not a join: a
    # join let PostgreSQL walk every household when the rule was filtered out (owed_by).
    rule = sa.select(VisitRule.every_days).where(
        VisitRule.subject == VisitSubject.FLOATING_MEMBER, VisitRule.active.is_(True)
    ).order_by(VisitRule.id).limit(1)
    every_days = rule.scalar_subquery()
    owed_by = rule.with_only_columns(VisitRule.owed_by).scalar_subquery()
    last, on, seen = _last_visit(dialect, Visit.member_id, User.id)
    registered = sa.func.coalesce(seen.visited_at, PartyMember.registered_at, User.created_at)
    text = sa.cast(sa.null(), sa.String)
    return (
        sa.select(sa.literal_column(str(MEMBER), sa.Integer), User.id, Building.compound_id,
                  Building.grid_id, every_days, owed_by, _plus_days(
                      dialect, registered, sa.case((seen.id.is_(None), 0), else_=every_days)),
                  seen.id, seen.visited_at, seen.kind, seen.visitor_id, text, text, text,
                  text, sa.cast(sa.null(), sa.Integer), text, text, User.nickname)
        .join(PartyMember, PartyMember.user_id == User.id)
        .join(Household, Household.id == User.household_id)
        .join(Building, Building.id == Household.building_id)
        .outerjoin(last, on)
        .where(PartyMember.kind == PartyMemberKind.FLOATING, every_days.is_not(None), *where))


@functools.cache
def _statement(dialect: str, scoped_by: str | None, owed: bool, before: bool, paged: bool,
               limit: int | None) -> sa.Select:
    """The one statement of `compute`, built once per kind of call (building it costs more
    than running it): the scope's ids written into the SQL, the cutoff (`before`), the role
    (`owed`) and the keyset position (`paged`: after_at, after_rank, after_id) bound.
    Each subject's row carries what the list shows; only the visitor's name is joined to
    the page's rows."""
    column = {"grid": Building.grid_id, "compound": Building.compound_id}.get(scoped_by)
    # The scope's ids are written into the SQL: bound, PostgreSQL judged the generic plan of
    # the prepared statement dearer than a custom one and planned every request again (2.5
    # ms a request against 0.6 ms; app.fastread keeps the SQL for each set of ids).
    where = [] if column is None else [
        column.in_(sa.bindparam("ids", expanding=True, literal_execute=True))]
    s = sa.union_all(_households(dialect, where), _members(dialect, where)).subquery("s")
    order = (s.c.due_at, s.c.rank, s.c.subject_id)
    page = sa.select(s)
    if before:
        page = page.where(s.c.due_at < sa.bindparam("cutoff", type_=UTCDateTime()))
    if owed:
        page = page.where(s.c.owed_by == sa.bindparam("owed_by", type_=VisitRule.owed_by.type))
    if paged:
        page = page.where(sa.tuple_(*order) > sa.tuple_(
            sa.bindparam("after_at", type_=UTCDateTime()), sa.bindparam("after_rank"),
            sa.bindparam("after_id")))
    if limit is not None:  # written into the SQL: one generic plan on PostgreSQL
        page = page.order_by(*order).limit(sa.bindparam("limit", limit, literal_execute=True))
    p = page.subquery("page")
    visitor = aliased(User)
    return (sa.select(p, visitor.nickname.label("visitor")).select_from(p)
            .outerjoin(visitor, visitor.id == p.c.visitor_id)
            .order_by(p.c.due_at, p.c.rank, p.c.subject_id))


def _due(row) -> Due:
    (rank, subject_id, compound_id, grid_id, every_days, owed_by, due_at, last_id, visited_at,
     kind, visitor_id, tags, unit, room, head_name, building_id, building, compound, member,
     visitor) = row  # by position: a page reads twenty of these per request
    last = None if last_id is None else {"id": last_id, "visited_at": visited_at, "kind": kind,
                                         "visitor_id": visitor_id, "visitor": visitor}
    if rank == HOUSEHOLD:
        return Due(VisitSubject.HOUSEHOLD, subject_id, compound_id, grid_id, every_days,
                   owed_by, due_at, last_id, [CareTag(t) for t in tags.split(",")],
                   {"compound": {"id": compound_id, "name": compound},
                    "building": {"id": building_id, "name": building},
                    "unit": unit, "room": room, "head_name": head_name}, last)
    return Due(VisitSubject.FLOATING_MEMBER, subject_id, compound_id, grid_id, every_days,
               owed_by, due_at, last_id, [], {"id": subject_id, "name": member}, last)


def compute(scope: Scope, owed_by: Role | None = None, before: datetime | None = None,
            after: tuple[datetime, int, int] | None = None,
            limit: int | None = None) -> list[Due]:
    """The subjects of the scope with their rule, due time and last visit, in the order
    (due_at, households first, id), in one statement whatever the number of subjects and
    visits: those owed by `owed_by`, due before `before`, after the keyset position `after`
    (due_at, rank, id), at most `limit` (each only when given)."""
    if scope.grid_ids is not None:
        scoped_by, params = "grid", {"ids": sorted(scope.grid_ids)}
    elif scope.compound_ids is not None:
        scoped_by, params = "compound", {"ids": sorted(scope.compound_ids)}
    else:
        scoped_by, params = None, {}
    if owed_by is not None:
        params["owed_by"] = owed_by
    if before is not None:
        params["cutoff"] = before
    if after is not None:
        params["after_at"], params["after_rank"], params["after_id"] = after
    db.session.flush()  # a no-op in a read; a job's pending changes are seen as before
    statement = _statement(db.session.get_bind().dialect.name, scoped_by, owed_by is not None,
                           before is not None, after is not None, limit)
    # Plain tuples (app.fastread): the ORM's result machinery over these columns costs a
    # third of the statement's client time, and the due list is a hot read.
    return [_due(row) for row in fastread.rows(statement, params, mappings=False)]


def is_due(due: Due, now: datetime) -> bool:
    return due.due_at < timeutil.end_of_day(now)


def overdue_days(due: Due, now: datetime) -> int:
    """Whole local days since the day it fell due (0: due today, or not yet)."""
    return max(0, (timeutil.today(now) - timeutil.local(due.due_at).date()).days)


def is_overdue(due: Due, now: datetime) -> bool:
    """Due before today (Asia/Shanghai)."""
    return overdue_days(due, now) > 0


# --- GET /visits/due -------------------------------------------------------------------

def _only(user: Viewer, role: Role, kind: ScopeKind) -> int | None:
    ids = {g.scope_id for g in user.grants if g.role is role and g.scope_kind is kind}
    return ids.pop() if len(ids) == 1 else None


def _scope_keys(model, target_id: int) -> set[ScopeKey] | None:
    """The grid's or compound's scope keys from one Core row (no ORM object), None if it
    does not exist."""
    community_id = db.session.scalar(sa.select(model.community_id).where(model.id == target_id))
    if community_id is None:
        return None
    kind = ScopeKind.GRID if model is Grid else ScopeKind.COMPOUND
    return {(kind, target_id), (ScopeKind.COMMUNITY, community_id)}


def _scope_for(user: Viewer, scope: str, grid_id: int | None,
               compound_id: int | None) -> tuple[Scope, Role | None]:
    if scope == "mine":
        grids = frozenset(g.scope_id for g in user.grants if g.role is Role.GRID_WORKER)
        compounds = frozenset(g.scope_id for g in user.grants if g.role is Role.SECRETARY)
        if grids and compounds:
            raise ValidationFailed("请指定 scope=grid 或 scope=compound", code="scope_required")
        if grids:
            return Scope(grid_ids=grids), Role.GRID_WORKER
        if compounds:
            return Scope(compound_ids=compounds), Role.SECRETARY
        raise Forbidden("只有网格员和小区书记有自己的走访任务")
    model, kind, role, given = ((Grid, ScopeKind.GRID, Role.GRID_WORKER, grid_id)
                                if scope == "grid" else
                                (Compound, ScopeKind.COMPOUND, Role.SECRETARY, compound_id))
    target_id = given or _only(user, role, kind)
    if target_id is None:
        field_name = "grid_id" if scope == "grid" else "compound_id"
        raise ValidationFailed(f"请指定 {field_name}", code="scope_required",
                               errors={"query": {field_name: ["此项必填"]}})
    keys = _scope_keys(model, target_id)
    if keys is None:
        raise NotFound("范围不存在", code="scope_not_found")
    if not has_role_in(user, (role, Role.STAFF), keys):
        raise Forbidden("只能查看你负责的网格或小区的走访任务")
    if scope == "grid":
        return Scope(grid_ids=frozenset({target_id})), None
    return Scope(compound_ids=frozenset({target_id})), None


def _after(cursor: str) -> tuple[datetime, int, int]:
    """The keyset position of a cursor `[due_at timestamp, "household:<id>"|"member:<id>"]`
    (422 invalid_cursor for anything else)."""
    after = decode_cursor(cursor)
    key = KEY.fullmatch(after[1]) if isinstance(after, list) and len(after) == 2 \
        and isinstance(after[1], str) else None
    if key is not None and isinstance(after[0], (int, float)) \
            and not isinstance(after[0], bool):
        try:
            return (datetime.fromtimestamp(after[0], timezone.utc), KINDS[key[1]],
                    int(key[2]))
        except (ValueError, OverflowError, OSError):
            pass
    raise ValidationFailed("分页参数无效", code="invalid_cursor",
                           errors={"cursor": ["无效的游标"]})


def due_list(user: Viewer, scope: str = "mine", grid_id: int | None = None,
             compound_id: int | None = None, cursor: str | None = None,
             limit: int = 20) -> dict:
    """Subjects due by the end of today, the longest overdue first; keyset over
    (due time, subject key), paged in SQL (limit + 1 rows read). `user` may be a Principal
    (the route's read): only its grants are used, and the grid or compound asked for is one
    Core row."""
    where, owed_by = _scope_for(user, scope, grid_id, compound_id)
    after = _after(cursor) if cursor else None
    now = utcnow()
    rows = compute(where, owed_by, before=timeutil.end_of_day(now), after=after,
                   limit=limit + 1)
    page, more = rows[:limit], len(rows) > limit
    return {"items": page, "now": now,
            "next_cursor": encode_cursor([page[-1].due_at.timestamp(), page[-1].key])
            if more else None}


def due_today(grid_ids: list[int], now: datetime) -> list[Due]:
    """Household visits due by the end of today in these grids (the digest source), the
    longest overdue first."""
    if not grid_ids:
        return []
    return compute(Scope(grid_ids=frozenset(grid_ids)), Role.GRID_WORKER,
                   before=timeutil.end_of_day(now))
