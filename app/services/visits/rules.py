"""The visit rules: one row per care tag (households) and one for 流动党员 contacts, each
with how often and who owes it. Configurable by the admin; the defaults come from the seeds
(独居老人 weekly, 困难家庭 and 残疾人 every two weeks, 流动人口 monthly, 一月一联)."""
from __future__ import annotations

import sqlalchemy as sa

from app.errors import NotFound
from app.extensions import db
from app.models import CareTag, Role, User, VisitRule, VisitSubject
from app.services.permissions import authorize

H, M = VisitSubject.HOUSEHOLD, VisitSubject.FLOATING_MEMBER
# subject, care tag, every n days, owed by (migration 0040 writes the same rows)
DEFAULT_RULES = [
    (H, CareTag.LIVING_ALONE, 7, Role.GRID_WORKER),
    (H, CareTag.EMPTY_NEST, 14, Role.GRID_WORKER),
    (H, CareTag.HARDSHIP, 14, Role.GRID_WORKER),
    (H, CareTag.DISABLED, 14, Role.GRID_WORKER),
    (H, CareTag.LEFT_BEHIND_CHILD, 14, Role.GRID_WORKER),
    (H, CareTag.SPECIAL, 14, Role.GRID_WORKER),
    (H, CareTag.PETITIONER, 14, Role.GRID_WORKER),
    (H, CareTag.FLOATING, 30, Role.GRID_WORKER),
    (M, None, 30, Role.SECRETARY),
]


def ensure_defaults() -> int:
    """Write the default rules that are missing (flush only); how many were added."""
    have = set(db.session.execute(sa.select(VisitRule.subject, VisitRule.care_tag)).all())
    added = [VisitRule(subject=s, care_tag=t, every_days=d, owed_by=o, active=True)
             for s, t, d, o in DEFAULT_RULES if (s, t) not in have]
    db.session.add_all(added)
    db.session.flush()
    return len(added)


def active_rules() -> list[VisitRule]:
    return list(db.session.scalars(sa.select(VisitRule).where(VisitRule.active.is_(True))
                                   .order_by(VisitRule.id)))


def list_rules(user: User) -> list[VisitRule]:
    authorize(user, (Role.GRID_WORKER, Role.SECRETARY, Role.STAFF))
    return list(db.session.scalars(sa.select(VisitRule).order_by(VisitRule.id)))


def update_rule(user: User, rule_id: int, every_days: int | None = None,
                active: bool | None = None) -> VisitRule:
    """Change how often a rule falls due, or switch it off (admin: the rules hold for
    every community). One transaction."""
    authorize(user, Role.ADMIN)
    rule = db.session.get(VisitRule, rule_id)
    if rule is None:
        raise NotFound("走访规则不存在", code="visit_rule_not_found")
    if every_days is not None:
        rule.every_days = every_days
    if active is not None:
        rule.active = active
    db.session.commit()
    return rule
