"""Who may see a wish, how much of it, and who counts as a volunteer.

- **Full view** (names, notes, every photo, the timeline's actors): the requester, whoever
  posted it (a grid worker or secretary posting for a household), its claimer, the grid
  worker of its building's grid, the compound's secretary, the community's staff, admin.
- **Contact** (room and phone): the managers above, and the claimer only while they hold
  the claim (claimed or fulfilled, not yet completed). A claim released, by anyone or by
  the timer, takes it away.
- **Wall view** (title, description, category, its own photos, the requester masked as
  "1号楼 张**", never a room, a phone or a care tag): the community's volunteers, for
  published, claimed, fulfilled and completed wishes.
- Anyone else is told the wish does not exist (404), not that it is private.

Volunteers, who may claim: every verified resident of a compound of the wish's community,
and party members (Role.PARTY_MEMBER) whose home or 双报到 registration is in that
community; never the requester, whoever posted it, or anyone verified in or asking to join
the requester's household (`on_requesting_side`, checked again at the fulfilment and the
confirmation).
Admin holds no claim (it earns points).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import sqlalchemy as sa

from app.errors import NotFound
from app.extensions import db
from app.models import (
    WALL_STATUSES,
    Building,
    Compound,
    Household,
    HouseholdMembership,
    MembershipStatus,
    PartyMember,
    Role,
    ScopeKind,
    Upload,
    User,
    Wish,
    WishStatus,
)
from app.services.permissions import Viewer, has_role_in, scopes_held

MANAGERS = (Role.GRID_WORKER, Role.SECRETARY, Role.STAFF)
HOLDING = (WishStatus.CLAIMED, WishStatus.FULFILLED)
JOINING = (MembershipStatus.PENDING, MembershipStatus.VERIFIED)  # in or asking to be


def volunteering(household: sa.ColumnElement, member: sa.ColumnElement) -> tuple:
    """The communities where a user volunteers, as two scalar subqueries (NULL when the
    user has none): their verified home's (`household`), and the one a party member
    registered at (双报到, `member`). Fed by `volunteer_params()`."""
    home = (sa.select(Compound.community_id).join(Building).join(Household)
            .where(Household.id == household).scalar_subquery())
    registered = (sa.select(PartyMember.registered_community_id)
                  .where(PartyMember.user_id == member).scalar_subquery())
    return home, registered


def volunteer_params(user: User) -> dict:
    """The bound values of `volunteering()` for `user`: the household of a resident (or a
    party member living here), and the user if a party member; None where not."""
    roles = user.roles
    return {"volunteer_household": user.household_id
            if roles & {Role.RESIDENT, Role.PARTY_MEMBER} else None,
            "volunteer_member": user.id if Role.PARTY_MEMBER in roles else None}


def _volunteering_of(user: User) -> tuple[tuple, dict]:
    return volunteering(sa.bindparam("volunteer_household", type_=sa.Integer),
                        sa.bindparam("volunteer_member", type_=sa.Integer)), \
        volunteer_params(user)


def communities_of(user: User) -> set[int]:
    """The communities where `user` volunteers (one query, none for a plain user)."""
    columns, params = _volunteering_of(user)
    if not any(params.values()):
        return set()
    return {c for c in db.session.execute(sa.select(*columns), params).one() if c is not None}


def wall_of(user: User, compound_id: int) -> tuple[int, int, set[int]] | None:
    """(compound id, its community, the user's volunteering communities) for the wall of
    `compound_id`; None when there is no such compound. One query."""
    columns, params = _volunteering_of(user)
    row = db.session.execute(sa.select(Compound.id, Compound.community_id, *columns)
                             .where(Compound.id == compound_id), params).first()
    if row is None:
        return None
    return row[0], row[1], {c for c in row[2:] if c is not None}


def manages_anything(user: User) -> bool:
    """Holds a manager's grant somewhere (or is admin): their wall access depends on it."""
    return any(g.role in MANAGERS or g.role is Role.ADMIN for g in user.grants)


def is_requester(user: User, wish: Wish) -> bool:
    """The requester, or for a wish posted on a household's behalf whoever posted it."""
    return user.id == wish.requester_id or (wish.on_behalf and user.id == wish.poster_id)


def on_requesting_side(user: User, wish: Wish) -> bool:
    """The requester, whoever posted it, or someone of the requester's household: verified,
    or asking to join it (a pending request). Checked at the claim, the fulfilment and the
    confirmation, so joining the household after claiming earns nothing."""
    if user.id in (wish.requester_id, wish.poster_id) or user.household_id == wish.household_id:
        return True
    return db.session.scalar(sa.select(HouseholdMembership.id).where(
        HouseholdMembership.user_id == user.id,
        HouseholdMembership.household_id == wish.household_id,
        HouseholdMembership.status.in_(JOINING)).limit(1)) is not None


def is_volunteer(user: User, wish: Wish) -> bool:
    """May claim it: a volunteer of its community, not on the requesting side."""
    return not on_requesting_side(user, wish) and wish.community_id in communities_of(user)


def is_party(user: User, wish: Wish) -> bool:
    """Sees the wish in full (decided from loaded rows and grants)."""
    return user.id in (wish.requester_id, wish.poster_id, wish.claimer_id) or \
        has_role_in(user, MANAGERS, wish.scope_keys())


def _holds(user: User, claimer_id: int | None, status: WishStatus) -> bool:
    return claimer_id == user.id and status in HOLDING


def holds(user: User, wish: Wish) -> bool:
    """The claimer, while the claim is theirs."""
    return _holds(user, wish.claimer_id, wish.status)


def sees_contact(user: User, wish: Wish) -> bool:
    return holds(user, wish) or has_role_in(user, MANAGERS, wish.scope_keys())


def row_viewer(user: Viewer) -> Callable[[Mapping], tuple[bool, bool]]:
    """For the list rows of a page (queries.LIST_COLUMNS): a function giving, for a row,
    whether the user sees it in full (`is_party`) and sees its contact (`sees_contact`).
    The user's manager scopes are read once for the page, not once per row."""
    me, managed = user.id, scopes_held(user, MANAGERS)

    def manages(row) -> bool:
        return managed is None or bool(managed) and not managed.isdisjoint((
            (ScopeKind.GRID, row["grid_id"]), (ScopeKind.COMPOUND, row["compound_id"]),
            (ScopeKind.COMMUNITY, row["community_id"])))

    def view(row) -> tuple[bool, bool]:
        if manages(row):
            return True, True
        return me in (row["requester_id"], row["poster_id"], row["claimer_id"]), \
            _holds(user, row["claimer_id"], row["status"])

    return view


def can_view_public(user: User, wish: Wish) -> bool:
    return wish.status in WALL_STATUSES and wish.community_id in communities_of(user)


def can_view(user: User, wish: Wish) -> bool:
    return is_party(user, wish) or can_view_public(user, wish)


def get_visible(user: User, wish_id: int, for_update: bool = False) -> Wish:
    """The wish if the user may see it (404 otherwise); `for_update` locks its row
    (SELECT ... FOR UPDATE), so simultaneous actions on one wish take turns."""
    wish = db.session.get(Wish, wish_id, with_for_update=for_update or None,
                          populate_existing=for_update or None)
    if wish is None or not can_view(user, wish):
        raise NotFound("心愿不存在", code="wish_not_found")
    return wish


def mask(name: str | None) -> str:
    """王** : the first character and no more."""
    return (name[:1] + "**") if name else "**"


def requester_name(row) -> str:
    """Who wants it, unmasked, from a list row: the resident's nickname, or the household's
    head for a household posted for."""
    if row["requester_id"] is not None:
        return row["requester_name"]
    return row["head_name"] or "住户"


def masked_requester(row) -> str:
    """How the wall names the requester: "3号楼 王**"."""
    return f"{row['building_name']} {mask(requester_name(row))}"


def can_view_photo(user: User, upload: Upload) -> bool:
    """Full viewers see every photo of a wish; the wall shows only the wish's own photos,
    never the proof of fulfilment (it may show someone's home)."""
    wish = db.session.get(Wish, upload.ref_id)
    if wish is None:
        return False
    if is_party(user, wish):
        return True
    return can_view_public(user, wish) and upload.id in (wish.photo_ids or [])
