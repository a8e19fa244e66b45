"""Incident categories: the list residents choose from, and the SLA hours each one sets.

`get_category` (an active category by code, else 422), `list_categories`, `save_category`
(admin create or edit: categories are global, the same in every community), `deadlines`
(respond-by and resolve-by counted from a moment). A report copies its category's `public`
when it is filed, so editing a category never changes who sees an old report.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import Department, IncidentCategory, Role, User
from app.models.incidents import DEFAULT_RESOLVE_HOURS, DEFAULT_RESPOND_HOURS
from app.services.permissions import authorize


def get_category(code: str) -> IncidentCategory:
    category = db.session.scalar(sa.select(IncidentCategory).where(
        IncidentCategory.code == code, IncidentCategory.active.is_(True)))
    if category is None:
        raise ValidationFailed("请选择有效的问题分类", code="unknown_category",
                               errors={"category": ["未知分类"]})
    return category


CATEGORY_FIELDS = ("name", "respond_hours", "resolve_hours", "default_department_id", "public",
                   "anonymous_allowed", "active", "sort_order")


def save_category(actor: User, code: str, values: dict, create: bool) -> IncidentCategory:
    """Admin keeps the category list: names, SLA hours, default department, visibility."""
    authorize(actor, Role.ADMIN)
    category = db.session.scalar(sa.select(IncidentCategory).where(IncidentCategory.code == code))
    if create and category is not None:
        raise Conflict("该分类代码已存在", code="category_exists")
    if not create and category is None:
        raise NotFound("分类不存在", code="category_not_found")
    department = values.get("default_department_id")
    if department is not None and db.session.get(Department, department) is None:
        raise NotFound("部门不存在", code="department_not_found")
    category = category or IncidentCategory(code=code, respond_hours=DEFAULT_RESPOND_HOURS,
                                            resolve_hours=DEFAULT_RESOLVE_HOURS)
    for field in CATEGORY_FIELDS:
        if field in values:
            setattr(category, field, values[field])
    if category.resolve_hours < category.respond_hours:
        raise ValidationFailed("办结时限不能短于响应时限", code="invalid_sla")
    db.session.add(category)
    db.session.commit()
    return category


def list_categories() -> list[IncidentCategory]:
    return list(db.session.scalars(sa.select(IncidentCategory).where(
        IncidentCategory.active.is_(True)).order_by(IncidentCategory.sort_order,
                                                    IncidentCategory.id)))




def deadlines(category: IncidentCategory, start: datetime) -> tuple[datetime, datetime]:
    return (start + timedelta(hours=category.respond_hours),
            start + timedelta(hours=category.resolve_hours))
