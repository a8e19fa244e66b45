"""Reading wishes: the wall and the other list scopes, and one wish with its timeline.

Scopes: `wall` (a compound's published, claimed, fulfilled and completed wishes, for the
community's volunteers and the compound's managers; the default), `mine` (I want or posted
it), `claimed` (I claimed it), `compound` (the grids, compounds and communities I manage,
every status), `queue` (the managers' queue: wishes to review, and fulfilled ones left
unconfirmed, oldest first). Lists load a page's buildings, households and people in a
fixed number of queries, and say per item how much the viewer sees.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.errors import Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    WALL_STATUSES,
    Building,
    Compound,
    Role,
    ScopeKind,
    User,
    Wish,
    WishCategory,
    WishEvent,
    WishStatus,
)
from app.services.pagination import paginate
from app.services.permissions import has_role
from app.services.wishes import access, flow

SCOPES = ("wall", "mine", "claimed", "compound", "queue")
LOADS = (selectinload(Wish.building).selectinload(Building.compound),
         selectinload(Wish.household), selectinload(Wish.requester),
         selectinload(Wish.poster), selectinload(Wish.claimer))
MANAGED = {ScopeKind.GRID: Wish.grid_id, ScopeKind.COMPOUND: Wish.compound_id,
           ScopeKind.COMMUNITY: Wish.community_id}


@dataclass
class WishView:
    wish: Wish
    full: bool  # names, notes, every photo (else the wall's view)
    contact: dict | None  # room and phone: the claimer holding it, managers
    events: list[WishEvent] | None = None  # the detail only
    actions: list[str] | None = None  # the detail only: what the viewer may do now


def _managed(user: User) -> sa.ColumnElement | None:
    """The wishes a grid worker, secretary or staff member manages (admin: all)."""
    if has_role(user, Role.ADMIN):
        return sa.true()
    conditions = [MANAGED[g.scope_kind] == g.scope_id for g in user.grants
                  if g.role in access.MANAGERS and g.scope_kind in MANAGED]
    return sa.or_(*conditions) if conditions else None


def _wall(user: User, compound_id: int | None) -> sa.ColumnElement:
    if compound_id is None:
        if user.household is None:
            raise ValidationFailed("请选择小区", code="compound_required",
                                   errors={"compound_id": ["请选择要查看的小区"]})
        compound_id = user.household.building.compound_id
    compound = db.session.get(Compound, compound_id)
    if compound is None:
        raise NotFound("小区不存在", code="compound_not_found")
    if compound.community_id not in access.communities_of(user) \
            and not has_role(user, access.MANAGERS, compound):
        raise Forbidden("只能查看本社区的心愿墙", code="not_community_member")
    return sa.and_(Wish.compound_id == compound.id, Wish.status.in_(WALL_STATUSES))


def list_wishes(user: User, scope: str, cursor: str | None, limit: int,
                status: str | None = None, compound_id: int | None = None,
                category: str | None = None, campaign: str | None = None) -> dict:
    descending = True
    if scope == "wall":
        where = _wall(user, compound_id)
    elif scope == "mine":
        where = sa.or_(Wish.requester_id == user.id, Wish.poster_id == user.id)
    elif scope == "claimed":
        where = Wish.claimer_id == user.id
    else:  # compound, queue
        where = _managed(user)
        if where is None:
            raise Forbidden("只有网格员、小区书记和社区工作者可以查看", code="forbidden")
        if scope == "queue":
            descending = False
            where = sa.and_(where, sa.or_(
                Wish.status == WishStatus.PENDING_REVIEW,
                sa.and_(Wish.status == WishStatus.FULFILLED, Wish.unconfirmed_at.is_not(None))))
    query = sa.select(Wish).options(*LOADS).where(where)
    if compound_id is not None and scope != "wall":
        query = query.where(Wish.compound_id == compound_id)
    if status:
        query = query.where(Wish.status == WishStatus(status))
    if category:
        query = query.where(Wish.category == WishCategory(category))
    if campaign:
        query = query.where(Wish.campaign == campaign)
    page = paginate(query, Wish.id, cursor, limit, descending=descending)
    return {**page, "items": [_view(user, wish) for wish in page["items"]]}


def _view(user: User, wish: Wish) -> WishView:
    full = access.is_party(user, wish)
    return WishView(wish, full, access.contact(wish) if access.sees_contact(user, wish) else None)


def detail(user: User, wish_id: int) -> WishView:
    """One wish, how much of it the user sees, its timeline and the user's actions."""
    wish = access.get_visible(user, wish_id)
    view = _view(user, wish)
    view.events = list(db.session.scalars(sa.select(WishEvent).options(
        selectinload(WishEvent.actor)).where(WishEvent.wish_id == wish.id)
        .order_by(WishEvent.id)))
    view.actions = flow.available(user, wish)
    return view
