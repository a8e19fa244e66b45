"""People and role grants as the console shows and changes them.

- `users_in_scope`: the users a grid worker, secretary or staff member looks after: residents
  of households in their scope (the membership approvers' rule,
  app.services.households.queries) and holders of grants within it; admin sees everyone.
- `shown_grants`: a person's grants inside the viewer's scope (and those without one).
- `sees_phone`: a phone is shown in full only to someone who manages the person's household
  (app.services.visits.access.manages, the rule of wish contacts) and to admin; everyone
  else gets it masked (`app.schemas.common.mask_phone`).
- `may_grant`, `grant`, `revoke`: a community's staff grant and revoke the community's roles
  (`STAFF_GRANTS`) only for scopes inside their community (`has_role(actor, STAFF,
  scope row)`); department, party-member and admin grants are admin's; resident grants come
  only from a verified membership. Nobody revokes their own grant. The writes are
  app.services.users' (`grant_role`, `revoke_role`), which commit.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    Building,
    Compound,
    Grid,
    Household,
    Role,
    RoleGrant,
    ScopeKind,
    User,
)
from app.schemas.common import mask_phone
from app.services import users
from app.services.households.queries import _scope_filter as household_scope
from app.services.pagination import paginate
from app.services.permissions import Grant, has_role
from app.services.visits.access import MANAGING_ROLES, manages

STAFF_GRANTS = (Role.GRID_WORKER, Role.SECRETARY, Role.STAFF, Role.CANTEEN_STAFF)
ADMIN_GRANTS = tuple(r for r in Role if r is not Role.RESIDENT)


def scope_pairs(user: User) -> set[tuple[ScopeKind, int]]:
    """The grant scopes inside the user's own: a community's grids and compounds with it,
    a compound with the grids of its buildings, a grid."""
    pairs: set[tuple[ScopeKind, int]] = set()
    for grant in user.grants:
        if grant.role not in MANAGING_ROLES:
            continue
        kind, scope_id = grant.scope_kind, grant.scope_id
        pairs.add((kind, scope_id))
        if kind is ScopeKind.COMMUNITY:
            pairs.update((ScopeKind.GRID, i) for i in db.session.scalars(
                sa.select(Grid.id).where(Grid.community_id == scope_id)))
            pairs.update((ScopeKind.COMPOUND, i) for i in db.session.scalars(
                sa.select(Compound.id).where(Compound.community_id == scope_id)))
        elif kind is ScopeKind.COMPOUND:
            pairs.update((ScopeKind.GRID, i) for i in db.session.scalars(
                sa.select(Building.grid_id).where(Building.compound_id == scope_id).distinct()))
    return pairs


def users_in_scope(user: User, cursor: str | None, limit: int) -> dict | None:
    """A page of the users the viewer looks after (None: the viewer looks after nobody)."""
    query = sa.select(User).options(selectinload(User.grants), selectinload(User.household)
                                    .selectinload(Household.building))
    if not has_role(user, Role.ADMIN):
        if not any(g.role in MANAGING_ROLES for g in user.grants):
            return None
        homes = (sa.select(Household.id).join(Building, Building.id == Household.building_id)
                 .join(Compound, Compound.id == Building.compound_id)
                 .where(household_scope(user)))
        pairs = scope_pairs(user)
        granted = sa.select(RoleGrant.user_id).where(sa.or_(*(
            sa.and_(RoleGrant.scope_kind == kind, RoleGrant.scope_id == scope_id)
            for kind, scope_id in sorted(pairs))))
        query = query.where(sa.or_(User.household_id.in_(homes), User.id.in_(granted)))
    return paginate(query, User.id, cursor, limit)


def shown_grants(viewer: User, person: User, pairs: set | None = None) -> list[RoleGrant]:
    """The person's grants the viewer may see: those without a scope and those inside the
    viewer's (`pairs`, from `scope_pairs(viewer)`); admin sees all."""
    if has_role(viewer, Role.ADMIN):
        return list(person.grants)
    pairs = scope_pairs(viewer) if pairs is None else pairs
    return [g for g in person.grants
            if g.scope_kind is None or (g.scope_kind, g.scope_id) in pairs]


def sees_phone(viewer: User, person: User) -> bool:
    if has_role(viewer, Role.ADMIN):
        return True
    return person.household is not None and manages(viewer, person.household)


def phone_for(viewer: User, person: User) -> str | None:
    return person.phone if sees_phone(viewer, person) else mask_phone(person.phone)


def may_grant(actor: User, role: Role, kind: ScopeKind | None, scope_id: int | None) -> bool:
    """Whether the actor may grant (or revoke) this role in this scope."""
    if has_role(actor, Role.ADMIN):
        return role in ADMIN_GRANTS
    if role not in STAFF_GRANTS or kind is None or kind is ScopeKind.DEPARTMENT:
        return False
    row = db.session.get(users.SCOPE_MODELS[kind], scope_id)
    return row is not None and has_role(actor, Role.STAFF, row)


def grantable_roles(actor: User) -> tuple[Role, ...]:
    if has_role(actor, Role.ADMIN):
        return ADMIN_GRANTS
    return STAFF_GRANTS if has_role(actor, Role.STAFF) else ()


def parse_role(code: str | None) -> Role:
    try:
        return Role(code)
    except ValueError:
        raise ValidationFailed("请选择有效的角色", code="invalid_role") from None


def grant(actor: User, user_id: int, role: Role, kind: ScopeKind | None,
          scope_id: int | None) -> RoleGrant:
    """Grant `role` in the scope to the user. One transaction."""
    person = db.session.get(User, user_id)
    if person is None:
        raise NotFound("用户不存在", code="user_not_found")
    if not may_grant(actor, role, kind, scope_id):
        raise Forbidden("您无权授予该角色或该范围", code="forbidden")
    return users.grant_role(person, role, kind, scope_id)  # checks the role's scope kind


def get_grant(actor: User, grant_id: int) -> RoleGrant:
    """A grant the actor may revoke (404 for any other: it does not reveal others' grants)."""
    row = db.session.get(RoleGrant, grant_id)
    if row is None or not may_grant(actor, row.role, row.scope_kind, row.scope_id):
        raise NotFound("授权不存在", code="grant_not_found")
    return row


def revoke(actor: User, grant_id: int) -> RoleGrant:
    """Revoke one grant (not one's own). One transaction; returns the grant as it was."""
    row = get_grant(actor, grant_id)
    if row.user_id == actor.id:
        raise Conflict("不能撤销自己的角色", code="own_grant")
    users.revoke_role(row.user, row.role, row.scope_kind, row.scope_id)
    return row


def scope_labels(grants) -> dict[tuple, str]:
    """Each grant's scope by name, e.g. "小区 虹桥小区" (one query per kind of scope)."""
    wanted: dict[ScopeKind, set[int]] = {}
    for g in grants:
        if g.scope_kind is not None:
            wanted.setdefault(g.scope_kind, set()).add(g.scope_id)
    labels: dict[tuple, str] = {(None, None): "—"}
    for kind, ids in wanted.items():
        model = users.SCOPE_MODELS[kind]
        names = {i: n for i, n in db.session.execute(
            sa.select(model.id, model.name).where(model.id.in_(ids)))}
        labels.update({(kind, i): f"{kind.label} {names.get(i, i)}" for i in ids})
    return labels


def scope_choices(actor: User) -> list[tuple[str, str]]:
    """The scopes the actor may grant in, as (`kind:id`, label) for a form's select."""
    pairs = set()
    if has_role(actor, Role.ADMIN):
        for kind, model in users.SCOPE_MODELS.items():
            pairs.update((kind, i) for i in db.session.scalars(sa.select(model.id)))
    elif has_role(actor, Role.STAFF):
        pairs = {p for p in scope_pairs(actor) if _staff_over(actor, p)}
    labels = scope_labels([Grant(None, kind, i) for kind, i in pairs])
    return [(f"{kind.value}:{i}", labels[(kind, i)])
            for kind, i in sorted(pairs, key=lambda p: (p[0].value, p[1]))]


def _staff_over(actor: User, pair: tuple[ScopeKind, int]) -> bool:
    row = db.session.get(users.SCOPE_MODELS[pair[0]], pair[1])
    return row is not None and has_role(actor, Role.STAFF, row)
