"""Reading wishes: the wall and the other list scopes, and one wish with its timeline.

Scopes: `wall` (a compound's published, claimed, fulfilled and completed wishes, for the
community's volunteers and the compound's managers; the default), `mine` (I want or posted
it), `claimed` (I claimed it), `compound` (the grids, compounds and communities I manage,
every status), `queue` (the managers' queue: wishes to review, and fulfilled ones left
unconfirmed, oldest first).

Lists follow `incidents.queries`: Core rows of table columns, the building's and the
compound's names from the process's cache (app.services.names) and the people's names as
correlated scalar subqueries (one query for a page, no ORM objects), a statement built once
per combination of conditions over bound parameters (`page_query`, cached) and run with
`fetch_page`. The contact (room and phone) is one more query, only for the rows whose
viewer may see it (the claimer holding it, managers): the wall itself never reads it.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.errors import Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    WALL_STATUSES,
    Compound,
    Household,
    Role,
    ScopeKind,
    User,
    Wish,
    WishCategory,
    WishEvent,
    WishKeys,
    WishStatus,
)
from app.services import names
from app.services.pagination import fetch_page, page_query
from app.services.permissions import has_role, has_role_in, home_compound
from app.services.wishes import access, flow

SCOPES = ("wall", "mine", "claimed", "compound", "queue")
wishes, compounds = Wish.__table__, Compound.__table__
users, households = User.__table__, Household.__table__


LIST_COLUMNS = (
    *(wishes.c[name] for name in (
        "id", "title", "description", "category", "campaign", "status", "points",
        "household_id", "building_id", "grid_id", "compound_id", "community_id",
        "requester_id", "poster_id", "claimer_id", "on_behalf", "photo_ids", "flagged",
        "check_method", "close_note", "unconfirmed_at", "claimed_at", "claim_expires_at",
        "published_at", "fulfilled_at", "completed_at", "created_at")),
    names.VERSION,
    names.looked_up(users.c.nickname, users.c.id, wishes.c.requester_id, "requester_name"),
    # The poster is nearly always the requester (`poster()`), and the household's head is
    # named only for a household posted for: two lookups a row saved on most rows.
    names.looked_up_unless(wishes.c.poster_id == wishes.c.requester_id, users.c.nickname,
                           users.c.id, wishes.c.poster_id, "poster_name"),
    names.looked_up(users.c.nickname, users.c.id, wishes.c.claimer_id, "claimer_name"),
    names.looked_up_unless(wishes.c.requester_id.is_not(None), households.c.head_name,
                           households.c.id, wishes.c.household_id, "head_name"))


def poster(row) -> str | None:
    """The poster's name from a list row (the requester's when they posted it)."""
    if row["poster_id"] == row["requester_id"]:
        return row["requester_name"]
    return row["poster_name"]


# The building's and the compound's names come from the process's cache (app.services.names).
NAMES = (("building_id", names.BUILDING, "building_name"),
         ("compound_id", names.COMPOUND, "compound_name"))


@functools.cache
def _rows() -> sa.Select:
    return sa.select(*LIST_COLUMNS)


@dataclass
class WishView:
    row: Mapping  # LIST_COLUMNS (a dict from app.fastread, or a RowMapping)
    full: bool  # names, notes, every photo (else the wall's view)
    contact: dict | None  # room and phone: the claimer holding it, managers
    events: list[WishEvent] | None = None  # the detail only
    actions: list[str] | None = None  # the detail only: what the viewer may do now


MANAGED = {ScopeKind.GRID: "grids", ScopeKind.COMPOUND: "compounds",
           ScopeKind.COMMUNITY: "communities"}
FILTERS = ("compound_id", "status", "category", "campaign")


def _managed(user: User, params: dict) -> tuple[str, ...]:
    """The scopes a grid worker, secretary or staff member manages (admin: all); adds
    their ids to `params`; 403 for anyone else."""
    if has_role(user, Role.ADMIN):
        return ("all",)
    for grant in user.grants:
        if grant.role in access.MANAGERS and grant.scope_kind in MANAGED:
            params.setdefault(MANAGED[grant.scope_kind], []).append(grant.scope_id)
    scopes = tuple(name for name in MANAGED.values() if name in params)
    if not scopes:
        raise Forbidden("只有网格员、小区书记和社区工作者可以查看", code="forbidden")
    return scopes


def _wall_compound(user: User, compound_id: int) -> int:
    """The compound whose wall the user may read, or 403/404."""
    found = access.wall_of(user, compound_id)
    if found is None:
        raise NotFound("小区不存在", code="compound_not_found")
    compound, community, volunteering = found
    if community not in volunteering and not has_role_in(
            user, access.MANAGERS, {(ScopeKind.COMPOUND, compound),
                                    (ScopeKind.COMMUNITY, community)}):
        raise Forbidden("只能查看本社区的心愿墙", code="not_community_member")
    return compound


def list_wishes(user: User, scope: str, cursor: str | None, limit: int,
                status: str | None = None, compound_id: int | None = None,
                category: str | None = None, campaign: str | None = None) -> dict:
    params: dict = {"viewer": user.id}
    checked_later = False
    if scope == "wall":
        wall = compound_id if compound_id is not None else home_compound(user)
        if wall is None:
            raise ValidationFailed("请选择小区", code="compound_required",
                                   errors={"compound_id": ["请选择要查看的小区"]})
        if access.manages_anything(user):
            params["wall"] = _wall_compound(user, wall)
            scopes = ("wall",)
        else:  # a volunteer: the page query checks the community itself
            params.update(wall=wall, **access.volunteer_params(user))
            scopes = ("volunteer_wall",)
            checked_later = True
    elif scope in ("mine", "claimed"):
        scopes = (scope,)
    else:  # compound, queue
        scopes = _managed(user, params)
    if compound_id is not None and scope != "wall":
        params["compound_id"] = compound_id
    if status:
        params["status"] = WishStatus(status)
    if category:
        params["category"] = WishCategory(category)
    if campaign:
        params["campaign"] = campaign
    filters = tuple(name for name in FILTERS if name in params)
    statement = _list_statement(scopes, filters, scope == "queue", bool(cursor), limit)
    page = fetch_page(statement, wishes.c.id, cursor, limit, params)
    if checked_later and not page["items"]:
        _wall_compound(user, wall)  # nothing came back: 403 or 404, or just empty
    return {**page, "items": views(user, page["items"])}


@functools.lru_cache(maxsize=256)
def _list_statement(scopes: tuple[str, ...], filters: tuple[str, ...], queue: bool,
                    paged: bool, limit: int) -> sa.Select:
    """A list query over bound parameters, built once per combination of conditions. Rows
    match any of `scopes` and all of `filters`; the queue is oldest first."""
    param, c, k = sa.bindparam, wishes.c, WishKeys.__table__.c
    viewer = param("viewer")

    def keyed(condition):  # with the page's bound, so that the key's index starts there
        if not paged:
            return WishKeys.match(condition)
        after = param("page_after")
        return WishKeys.match(condition, k.id > after if queue else k.id < after)

    scope_conditions = {
        "all": sa.true(),
        "wall": sa.and_(c.compound_id == param("wall"), _on_wall()),
        "volunteer_wall": _volunteer_wall(),
        # The poster, grid and community through wish_keys' indexes (WishKeys).
        "mine": keyed(k.poster_id == viewer),  # the requester, if any, is the poster
        "claimed": c.claimer_id == viewer,
        "grids": keyed(k.grid_id.in_(param("grids", expanding=True))),
        "compounds": c.compound_id.in_(param("compounds", expanding=True)),
        "communities": keyed(k.community_id.in_(param("communities", expanding=True)))}
    filter_conditions = {
        "compound_id": c.compound_id == param("compound_id"),
        # A status is written into the SQL, not bound (like the page's LIMIT): PostgreSQL
        # then plans a prepared list once. Bound, it estimated an unknown status's rows as
        # an eighth of the compound's, found the generic plan dearer than a custom one
        # and planned the wall anew on every request (half a millisecond).
        "status": c.status == param("status", literal_execute=True),
        "category": c.category == param("category"),
        "campaign": c.campaign == param("campaign")}
    query = _rows().where(sa.or_(*(scope_conditions[name] for name in scopes)),
                          *(filter_conditions[name] for name in filters))
    if queue:
        query = query.where(sa.or_(
            c.status == WishStatus.PENDING_REVIEW,
            sa.and_(c.status == WishStatus.FULFILLED, c.unconfirmed_at.is_not(None))))
    return page_query(query, c.id, paged, limit, descending=not queue)


def _on_wall() -> sa.ColumnElement:
    """The wall's statuses, written into the SQL (see `status` in `_list_statement`)."""
    return wishes.c.status.in_(sa.bindparam("wall_statuses", [s.value for s in WALL_STATUSES],
                                            expanding=True, literal_execute=True))


def _volunteer_wall() -> sa.ColumnElement:
    """The wall of compound `wall` if the compound's community is one where the viewer
    volunteers: PostgreSQL evaluates the check once (uncorrelated subqueries) before it
    reads a row, so a volunteer's wall is one query. A page that comes back empty is
    checked again to say why (403, 404)."""
    param, c = sa.bindparam, wishes.c
    compound = param("wall", type_=sa.Integer)
    community = sa.select(compounds.c.community_id).where(compounds.c.id == compound) \
        .scalar_subquery()
    return sa.and_(c.compound_id == compound, _on_wall(),
                   community.in_(access.volunteering(
                       param("volunteer_household", type_=sa.Integer),
                       param("volunteer_member", type_=sa.Integer))))


def views(user: User, rows) -> list[WishView]:
    """Each row with how much the user sees; the contacts of those who may see them in one
    query."""
    view = access.row_viewer(user)
    shown = [(row, *view(row)) for row in names.fill(rows, NAMES)]
    contacts = _contacts([row for row, _, sees in shown if sees])
    return [WishView(row, full, contacts.get(row["id"])) for row, full, _ in shown]


def _contacts(rows) -> dict[int, dict]:
    """{wish id: contact} for these rows: room and phone. A household posted for has no
    smartphone: the poster (its grid worker or secretary) is the one to call."""
    if not rows:
        return {}
    person = sa.func.coalesce(wishes.c.requester_id, wishes.c.poster_id)
    found = {r.id: r for r in db.session.execute(
        sa.select(wishes.c.id, households.c.unit, households.c.room, users.c.phone)
        .join(households, households.c.id == wishes.c.household_id)
        .join(users, users.c.id == person)
        .where(wishes.c.id.in_([row["id"] for row in rows])))}
    return {row["id"]: {
        "name": access.requester_name(row),
        "address": f"{row['compound_name']}{row['building_name']}{found[row['id']].unit}单元"
                   f"{found[row['id']].room}",
        "phone": found[row["id"]].phone,
        "via": poster(row) if row["on_behalf"] else None} for row in rows}


def detail(user: User, wish_id: int) -> WishView:
    """One wish as a list row, how much of it the user sees, its timeline and the user's
    actions."""
    wish = access.get_visible(user, wish_id)
    row = db.session.execute(_rows().where(wishes.c.id == wish.id)).mappings().one()
    [view] = views(user, [row])
    view.events = list(db.session.scalars(sa.select(WishEvent).options(
        selectinload(WishEvent.actor)).where(WishEvent.wish_id == wish.id)
        .order_by(WishEvent.id)))
    view.actions = flow.available(user, wish)
    return view
