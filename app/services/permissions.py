"""The one permission helper: does a user hold a role whose scope covers a target?

A grant is (role, scope): a grid worker's grid, a secretary's compound, staff's community, a
department. A target (a model row) covers a set of scope keys: a building is in its grid, its
compound and its community; later records (incidents...) define `scope_keys()` to add theirs,
e.g. the department an incident was escalated to. Admin covers everything. Residents and
party members hold no scoped grant: their scope is their own household's.

Who asks is a `User` or a `Principal`: the same facts as plain values (id, household, its
building and compound, grants as tuples), which a read request builds in one Core query
instead of loading ORM objects (app.security). Every check here, and every read service,
takes either; a service that writes takes the `User`.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple, Union

import sqlalchemy as sa

from app.errors import Forbidden
from app.extensions import db
from app.models import (
    Building,
    Community,
    Compound,
    Department,
    Grid,
    Household,
    Role,
    RoleGrant,
    ScopeKind,
    User,
)

ScopeKey = tuple[ScopeKind, int]
HOUSEHOLD_SCOPED_ROLES = {Role.RESIDENT, Role.PARTY_MEMBER}


class Grant(NamedTuple):
    """A role grant as plain values (the fields of `RoleGrant` that checks read)."""
    role: Role
    scope_kind: ScopeKind | None
    scope_id: int | None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking, without ORM objects: enough for every role and scope check."""
    id: int
    household_id: int | None  # set only for a verified household, as `User.household_id`
    building_id: int | None  # the household's building
    compound_id: int | None  # and its compound: a resident's scope
    grants: tuple[Grant, ...]
    nickname: str = ""  # the name lists show for the user's own rows

    @property
    def roles(self) -> set[Role]:
        return {g.role for g in self.grants}


Viewer = Union[User, Principal]


def home_compound(user: Viewer) -> int | None:
    """The compound of the user's verified household, if any."""
    if isinstance(user, Principal):
        return user.compound_id
    return user.household.building.compound_id if user.household is not None else None


def scope_keys(target) -> set[ScopeKey]:
    """The scopes a target lies in."""
    if hasattr(target, "scope_keys"):
        return set(target.scope_keys())
    if isinstance(target, Household):
        return scope_keys(target.building)
    if isinstance(target, Building):
        return {(ScopeKind.GRID, target.grid_id), (ScopeKind.COMPOUND, target.compound_id),
                (ScopeKind.COMMUNITY, target.compound.community_id)}
    if isinstance(target, Compound):
        return {(ScopeKind.COMPOUND, target.id), (ScopeKind.COMMUNITY, target.community_id)}
    if isinstance(target, Grid):
        return {(ScopeKind.GRID, target.id), (ScopeKind.COMMUNITY, target.community_id)}
    if isinstance(target, Community):
        return {(ScopeKind.COMMUNITY, target.id)}
    if isinstance(target, Department):
        return {(ScopeKind.DEPARTMENT, target.id)}
    raise TypeError(f"no scope known for {type(target).__name__}")


def _household_scope(user: Viewer) -> set[ScopeKey]:
    # A resident acts in their own compound only, not in the whole grid or community.
    compound_id = home_compound(user)
    return set() if compound_id is None else {(ScopeKind.COMPOUND, compound_id)}


def has_role(user: Viewer, roles: Role | Iterable[Role], target=None) -> bool:
    """True if the user holds one of `roles` in a scope covering `target`.

    Without a target: holds the role anywhere.
    """
    return has_role_in(user, roles, None if target is None else scope_keys(target))


def scopes_held(user: Viewer, roles: Iterable[Role]) -> set[ScopeKey] | None:
    """The scopes where the user holds one of `roles` (roles granted for a scope, not a
    household's), or None for admin (every scope): to check the rows of a page against one
    set, as `has_role_in` checks one target."""
    wanted = set(roles)
    assert not wanted & HOUSEHOLD_SCOPED_ROLES, "a household's roles have no scope to hold"
    if any(grant.role is Role.ADMIN for grant in user.grants):
        return None
    return {(grant.scope_kind, grant.scope_id) for grant in user.grants
            if grant.role in wanted}


def has_role_in(user: Viewer, roles: Role | Iterable[Role], keys: set[ScopeKey] | None) -> bool:
    """`has_role` for a target given by its scope keys (rows read without the ORM)."""
    wanted = {roles} if isinstance(roles, Role) else set(roles)
    for grant in user.grants:
        if grant.role is Role.ADMIN:
            return True
        if grant.role not in wanted:
            continue
        if keys is None:
            return True
        if grant.role in HOUSEHOLD_SCOPED_ROLES:
            if keys & _household_scope(user):
                return True
        elif (grant.scope_kind, grant.scope_id) in keys:
            return True
    return False


def works_in(user: Viewer, community_id: int,
             roles: Iterable[Role] = (Role.GRID_WORKER, Role.SECRETARY, Role.STAFF)) -> bool:
    """Whether the user holds one of `roles` anywhere inside the community (a grid worker
    of one of its grids, a secretary of one of its compounds, its staff), or is admin."""
    if has_role(user, Role.ADMIN):
        return True
    community_of = {ScopeKind.GRID: Grid, ScopeKind.COMPOUND: Compound}
    for grant in user.grants:
        if grant.role not in roles:
            continue
        if grant.scope_kind is ScopeKind.COMMUNITY and grant.scope_id == community_id:
            return True
        model = community_of.get(grant.scope_kind)
        if model is not None and db.session.scalar(
                sa.select(model.community_id).where(model.id == grant.scope_id)) == community_id:
            return True
    return False


def authorize(user: Viewer, roles: Role | Iterable[Role], target=None) -> None:
    if not has_role(user, roles, target):
        raise Forbidden()


def not_for_oneself(actor: Viewer, user_id: int, message: str) -> None:
    """Staff decide on other people's records, never their own (points, hours, 双报到): 403
    `self_adjustment` when `user_id` is the actor's, unless the actor is admin."""
    if user_id == actor.id and not has_role(actor, Role.ADMIN):
        raise Forbidden(message, code="self_adjustment")


def grantees(role: Role, kind: ScopeKind, scope_id: int | None) -> list[int]:
    """The ids of the users holding `role` in exactly this scope (e.g. a compound's secretaries)."""
    return list(db.session.scalars(sa.select(RoleGrant.user_id).where(
        RoleGrant.role == role, RoleGrant.scope_kind == kind, RoleGrant.scope_id == scope_id)))
