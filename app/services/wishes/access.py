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
community; never the requester, whoever posted it, or a member of the requester's household.
Admin holds no claim (it earns points).
"""
from __future__ import annotations

import sqlalchemy as sa

from app.errors import NotFound
from app.extensions import db
from app.models import (
    WALL_STATUSES,
    Building,
    Compound,
    Household,
    PartyMember,
    Role,
    Upload,
    User,
    Wish,
    WishStatus,
)
from app.services.permissions import has_role

MANAGERS = (Role.GRID_WORKER, Role.SECRETARY, Role.STAFF)
HOLDING = (WishStatus.CLAIMED, WishStatus.FULFILLED)


def communities_of(user: User) -> set[int]:
    """The communities where `user` volunteers: their verified home's (a resident), and
    for a party member the one they registered at (双报到)."""
    ids: set[int] = set()
    roles = user.roles
    if user.household_id is not None and roles & {Role.RESIDENT, Role.PARTY_MEMBER}:
        ids.add(db.session.scalar(
            sa.select(Compound.community_id).join(Building).join(Household)
            .where(Household.id == user.household_id)))
    if Role.PARTY_MEMBER in roles:
        registered = db.session.scalar(sa.select(PartyMember.registered_community_id)
                                       .where(PartyMember.user_id == user.id))
        if registered is not None:
            ids.add(registered)
    return ids


def is_requester(user: User, wish: Wish) -> bool:
    """The requester, or for a wish posted on a household's behalf whoever posted it."""
    return user.id == wish.requester_id or (wish.on_behalf and user.id == wish.poster_id)


def is_volunteer(user: User, wish: Wish) -> bool:
    """May claim it: a volunteer of its community, not on the requesting side."""
    if user.id in (wish.requester_id, wish.poster_id) or user.household_id == wish.household_id:
        return False
    return wish.community_id in communities_of(user)


def is_party(user: User, wish: Wish) -> bool:
    """Sees the wish in full (decided from loaded rows and grants)."""
    return (user.id in (wish.requester_id, wish.poster_id, wish.claimer_id)
            or has_role(user, MANAGERS, wish))


def holds(user: User, wish: Wish) -> bool:
    """The claimer, while the claim is theirs."""
    return wish.claimer_id == user.id and wish.status in HOLDING


def sees_contact(user: User, wish: Wish) -> bool:
    return holds(user, wish) or has_role(user, MANAGERS, wish)


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


def requester_name(wish: Wish) -> str:
    """Who wants it, unmasked: the resident's nickname, or the household's head."""
    if wish.requester is not None:
        return wish.requester.nickname
    return wish.household.head_name or "住户"


def masked_requester(wish: Wish) -> str:
    """How the wall names the requester: "3号楼 王**"."""
    return f"{wish.building.name} {mask(requester_name(wish))}"


def contact(wish: Wish) -> dict:
    """Room and phone, for the claimer holding it and the managers. A household posted for
    has no smartphone: the poster (its grid worker or secretary) is the one to call."""
    household, building = wish.household, wish.building
    person = wish.requester or wish.poster
    return {"name": requester_name(wish),
            "address": f"{building.compound.name}{building.name}{household.unit}单元"
                       f"{household.room}",
            "phone": person.phone,
            "via": wish.poster.nickname if wish.on_behalf else None}


def can_view_photo(user: User, upload: Upload) -> bool:
    """Full viewers see every photo of a wish; the wall shows only the wish's own photos,
    never the proof of fulfilment (it may show someone's home)."""
    wish = db.session.get(Wish, upload.ref_id)
    if wish is None:
        return False
    if is_party(user, wish):
        return True
    return can_view_public(user, wish) and upload.id in (wish.photo_ids or [])
