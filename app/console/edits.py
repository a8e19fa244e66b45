"""What every console edit form shares: reading its fields, the optimistic version check,
and audited writes whose before/after are not one model's columns.

The version check. An edit form carries the `version` of the row it showed (every versioned
row, app.models.base.Versioned, bumps it on each ORM update, console or API). `checked`
wraps the service call: inside the same transaction it claims the version with a
conditional `UPDATE … SET version = version + 1 WHERE id = … AND version = <form's>` (which
also takes the row lock), runs the service (so a 403 or 404 still wins: a stale form for a
row one may not touch reveals nothing), and if the claim matched no row raises 409
`stale_version` "已被他人修改", rolling everything back. `saved` turns that 409 into the
edit page shown again with the current data (and its new version), status 409.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date

import sqlalchemy as sa
from flask import flash, request
from marshmallow import Schema, ValidationError

from app.console import audit
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db

STALE = "已被他人修改，请查看最新内容后重试"
INT_MAX = 2_000_000_000


def text(name: str) -> str | None:
    return (request.form.get(name) or "").strip() or None


def integer(name: str, label: str = "编号") -> int | None:
    raw = text(name)
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) > INT_MAX:
        raise ValidationFailed(f"{label}应为整数", code="validation_error", errors={name: ["应为整数"]})
    return int(raw)


def number(name: str, label: str) -> float | None:
    raw = text(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValidationFailed(f"{label}应为数字", code="validation_error", errors={name: ["应为数字"]})
    return value


def day(raw: str | None, code: str = "invalid_date") -> date | None:
    """A `YYYY-MM-DD` query value (None when empty), refused (422 `code`) outside 2000–2100."""
    if not raw:
        return None
    try:
        found = date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed("日期格式应为 YYYY-MM-DD", code=code) from None
    if not 2000 <= found.year <= 2100:
        raise ValidationFailed("日期超出范围", code=code)
    return found


def chosen_community(communities) -> int | None:
    """The community named by `community` in the query or form (one of `communities`,
    else 404), or the first of them."""
    wanted = request.values.get("community", "")
    if wanted:
        if not wanted.isdigit() or int(wanted) not in {c.id for c in communities}:
            raise NotFound("社区不存在", code="community_not_found")
        return int(wanted)
    return communities[0].id if communities else None


def version() -> int:
    found = integer("version", "版本")
    if found is None:
        raise ValidationFailed("表单缺少版本信息，请刷新页面后重试", code="validation_error",
                               errors={"version": ["此项为必填项"]})
    return found


def load(schema: Schema, data: dict, labels: dict[str, str]) -> dict:
    """`data` through the API's own marshmallow schema; its errors as one Chinese message."""
    try:
        return schema.load(data)
    except ValidationError as error:
        parts = []
        for field, messages in error.normalized_messages().items():
            first = messages[0] if isinstance(messages, list) else next(iter(messages.values()))
            parts.append(f"{labels.get(field, field)}：{first}")
        raise ValidationFailed("；".join(parts), code="validation_error",
                               errors=error.normalized_messages()) from None


def checked(model, row_id: int, submitted: int, work: Callable[[], object]) -> Callable:
    """`work` with the optimistic version check around it (see the module docstring)."""
    def run():
        claimed = db.session.execute(
            sa.update(model).where(model.id == row_id, model.version == submitted)
            .values(version=model.version + 1)
            .execution_options(synchronize_session=False)).rowcount == 1
        result = work()
        if not claimed:
            raise Conflict(STALE, code="stale_version", errors={"version": submitted})
        return result
    return run


def saved(write: Callable[[], object], page: Callable[[], str], done: str):
    """Run an edit; None when it went through (the caller redirects) after flashing
    `done`, else the edit page again with the stale message and status 409."""
    try:
        write()
    except Conflict as error:
        if error.code != "stale_version":
            raise
        db.session.rollback()
        flash(error.message, "error")
        return page(), 409
    flash(done, "ok")
    return None


def created(user, action: str, fields: tuple[str, ...], work: Callable[[], object]):
    """A creation and its audit row (no before; the new row as the target, `fields` of it
    as the after)."""
    return audit.audited_write(user.id, action, None, None, None, work,
                               lambda row: audit.snapshot(row, fields), target=lambda row: row)
