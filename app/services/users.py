"""Managing who holds which role where (used by the `flask users` commands)."""
from __future__ import annotations

import sqlalchemy as sa

from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    ROLE_SCOPE,
    Community,
    Compound,
    Department,
    Grid,
    Role,
    RoleGrant,
    ScopeKind,
    User,
)
from app.services.common import get_or_create

SCOPE_MODELS = {ScopeKind.GRID: Grid, ScopeKind.COMPOUND: Compound,
                ScopeKind.COMMUNITY: Community, ScopeKind.DEPARTMENT: Department}


def parse_scope(spec: str | None) -> tuple[ScopeKind | None, int | None]:
    """`grid:3` -> (ScopeKind.GRID, 3); None -> (None, None)."""
    if not spec:
        return None, None
    kind, _, raw_id = spec.partition(":")
    try:
        return ScopeKind(kind), int(raw_id)
    except ValueError:
        raise ValidationFailed(f"范围格式应为 <grid|compound|community|department>:<id>，"
                               f"而不是 {spec!r}", code="invalid_scope") from None


def find_user(openid: str) -> User:
    user = db.session.scalar(sa.select(User).where(User.openid == openid))
    if user is None:
        raise NotFound(f"用户 {openid} 不存在（需先登录一次）", code="user_not_found")
    return user


def _check_scope(role: Role, kind: ScopeKind | None, scope_id: int | None) -> None:
    expected = ROLE_SCOPE[role]
    if expected != kind:
        need = f"{expected.value}:<id>" if expected else "无范围"
        raise ValidationFailed(f"角色 {role.value} 的范围应为 {need}", code="invalid_scope")
    if kind is not None and db.session.get(SCOPE_MODELS[kind], scope_id) is None:
        raise NotFound(f"{kind.label} {scope_id} 不存在", code="scope_not_found")


def grant_role(user: User, role: Role, kind: ScopeKind | None = None,
               scope_id: int | None = None) -> RoleGrant:
    _check_scope(role, kind, scope_id)
    grant = get_or_create(RoleGrant, user_id=user.id, role=role, scope_kind=kind,
                          scope_id=scope_id)
    db.session.commit()
    return grant


def revoke_role(user: User, role: Role, kind: ScopeKind | None = None,
                scope_id: int | None = None) -> int:
    query = sa.delete(RoleGrant).where(RoleGrant.user_id == user.id, RoleGrant.role == role)
    if kind is not None:
        query = query.where(RoleGrant.scope_kind == kind, RoleGrant.scope_id == scope_id)
    count = db.session.execute(query).rowcount
    db.session.commit()
    return count
