"""Which households and 流动党员 are due a visit, and since when.

A household is owed a visit every `every_days` of the most frequent active rule among its
care tags; a 流动党员 (a floating party member whose household is in the compound) one
contact every `every_days` of the 流动党员 rule (一月一联), owed by the compound's
secretary. The next visit falls due that many days after the last one, or at once (from
the household's registration, the member's registration) when there was none. Due means
due by the end of today (Asia/Shanghai); overdue means due before today.

`compute(scope)` reads a scope's subjects in two statements (tagged households with their
rules and last visit, floating members with theirs), whatever the number of visits.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from app import timeutil
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
from app.models.base import utcnow
from app.services.pagination import decode_cursor, encode_cursor
from app.services.permissions import ScopeKey, Viewer, has_role_in


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
    base_at: datetime  # the last visit, or when the subject was registered
    last_visit_id: int | None = None
    tags: list[CareTag] = field(default_factory=list)
    place: dict = field(default_factory=dict)  # what the list shows of the subject
    last: dict | None = None  # the last visit: kind, visitor

    @property
    def key(self) -> str:
        return f"{'household' if self.subject is VisitSubject.HOUSEHOLD else 'member'}:" \
               f"{self.subject_id}"

    @property
    def due_at(self) -> datetime:
        return self.base_at + timedelta(days=self.every_days) if self.last_visit_id \
            else self.base_at


def _last_of(column, owner) -> sa.ScalarSelect:
    """The id of the subject's last visit: one probe of the (subject, visited_at) index."""
    return (sa.select(Visit.id).where(column == owner)
            .order_by(Visit.visited_at.desc(), Visit.id.desc()).limit(1).scalar_subquery())


def _last(row) -> tuple[int | None, datetime | None, dict | None]:
    if row.visit_id is None:
        return None, None, None
    return row.visit_id, row.visited_at, {"id": row.visit_id, "visited_at": row.visited_at,
                                          "kind": row.kind, "visitor_id": row.visitor_id,
                                          "visitor": row.visitor}


@functools.cache
def _statements(scoped_by: str | None) -> tuple[sa.Select, sa.Select]:
    """The two statements of `compute`, built once per kind of scope (building them costs
    more than running them), the scope's ids an expanding parameter."""
    last, visitor = aliased(Visit), aliased(User)
    visit_columns = (last.id.label("visit_id"), last.visited_at, last.kind, last.visitor_id,
                     visitor.nickname.label("visitor"))
    column = {"grid": Building.grid_id, "compound": Building.compound_id}.get(scoped_by)
    where = [] if column is None else [column.in_(sa.bindparam("ids", expanding=True))]
    households = (
        sa.select(Household.id, Household.created_at, Household.unit, Household.room,
                  Household.head_name, Building.id.label("building_id"),
                  Building.name.label("building"), Building.compound_id, Building.grid_id,
                  Compound.name.label("compound"), HouseholdTag.tag, VisitRule.every_days,
                  VisitRule.owed_by, *visit_columns)
        .join(HouseholdTag, HouseholdTag.household_id == Household.id)
        .join(VisitRule, sa.and_(VisitRule.subject == VisitSubject.HOUSEHOLD,
                                 VisitRule.care_tag == HouseholdTag.tag,
                                 VisitRule.active.is_(True)))
        .join(Building, Building.id == Household.building_id)
        .join(Compound, Compound.id == Building.compound_id)
        .outerjoin(last, last.id == _last_of(Visit.household_id, Household.id))
        .outerjoin(visitor, visitor.id == last.visitor_id)
        .where(*where))
    members = (
        sa.select(User.id, User.nickname, PartyMember.registered_at, User.created_at,
                  Building.compound_id, Building.grid_id, VisitRule.every_days,
                  VisitRule.owed_by, *visit_columns)
        .join(PartyMember, PartyMember.user_id == User.id)
        .join(VisitRule, sa.and_(VisitRule.subject == VisitSubject.FLOATING_MEMBER,
                                 VisitRule.active.is_(True)))
        .join(Household, Household.id == User.household_id)
        .join(Building, Building.id == Household.building_id)
        .outerjoin(last, last.id == _last_of(Visit.member_id, User.id))
        .outerjoin(visitor, visitor.id == last.visitor_id)
        .where(PartyMember.kind == PartyMemberKind.FLOATING, *where))
    return households, members


def compute(scope: Scope, owed_by: Role | None = None) -> list[Due]:
    """Every subject of the scope with its rule and its last visit (due or not), in two
    statements whatever the number of subjects and visits."""
    if scope.grid_ids is not None:
        households, members = _statements("grid")
        params = {"ids": sorted(scope.grid_ids)}
    elif scope.compound_ids is not None:
        households, members = _statements("compound")
        params = {"ids": sorted(scope.compound_ids)}
    else:
        (households, members), params = _statements(None), {}
    # Plain rows on the session's connection: the ORM's result machinery over these Core
    # columns costs a third of the statements' client time (the due list is a hot read).
    db.session.flush()  # a no-op in a read; a job's pending changes are seen as before
    connection = db.session.connection()
    rows = connection.execute(households, params)
    found: dict[str, Due] = {}
    for row in rows:
        due = found.get(f"household:{row.id}")
        if due is None:
            visit_id, visited_at, seen = _last(row)
            due = found[f"household:{row.id}"] = Due(
                VisitSubject.HOUSEHOLD, row.id, row.compound_id, row.grid_id, row.every_days,
                row.owed_by, visited_at or row.created_at, visit_id, last=seen,
                place={"compound": {"id": row.compound_id, "name": row.compound},
                       "building": {"id": row.building_id, "name": row.building},
                       "unit": row.unit, "room": row.room, "head_name": row.head_name})
        due.tags.append(row.tag)
        if row.every_days < due.every_days:  # the most frequent of its tags' rules
            due.every_days, due.owed_by = row.every_days, row.owed_by
    for row in connection.execute(members, params):
        visit_id, visited_at, seen = _last(row)
        found[f"member:{row.id}"] = Due(
            VisitSubject.FLOATING_MEMBER, row.id, row.compound_id, row.grid_id,
            row.every_days, row.owed_by, visited_at or row.registered_at or row.created_at,
            visit_id, last=seen, place={"id": row.id, "name": row.nickname})
    if owed_by is not None:
        found = {k: d for k, d in found.items() if d.owed_by is owed_by}
    return list(found.values())


def is_due(due: Due, now: datetime) -> bool:
    return due.due_at < timeutil.end_of_day(now)


def is_overdue(due: Due, now: datetime) -> bool:
    return due.due_at < timeutil.day_bounds(timeutil.today(now))[0]


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


def due_list(user: Viewer, scope: str = "mine", grid_id: int | None = None,
             compound_id: int | None = None, cursor: str | None = None,
             limit: int = 20) -> dict:
    """Subjects due by the end of today, the longest overdue first; keyset over
    (due time, subject key). `user` may be a Principal (the route's read): only its grants
    are used, and the grid or compound asked for is one Core row."""
    where, owed_by = _scope_for(user, scope, grid_id, compound_id)
    now = utcnow()
    cutoff = timeutil.end_of_day(now)  # is_due(), once for the whole list
    rows = sorted((d for d in compute(where, owed_by) if d.due_at < cutoff),
                  key=lambda d: (d.due_at, d.key))
    if cursor:
        after = decode_cursor(cursor)
        if not (isinstance(after, list) and len(after) == 2
                and isinstance(after[0], (int, float)) and isinstance(after[1], str)):
            raise ValidationFailed("分页参数无效", code="invalid_cursor",
                                   errors={"cursor": ["无效的游标"]})
        rows = [d for d in rows if [d.due_at.timestamp(), d.key] > after]
    page, more = rows[:limit], len(rows) > limit
    return {"items": page, "now": now,
            "next_cursor": encode_cursor([page[-1].due_at.timestamp(), page[-1].key])
            if more else None}


def due_today(grid_ids: list[int], now: datetime) -> list[Due]:
    """Household visits due by the end of today in these grids (the digest source)."""
    if not grid_ids:
        return []
    return [d for d in compute(Scope(grid_ids=frozenset(grid_ids)), Role.GRID_WORKER)
            if is_due(d, now)]
