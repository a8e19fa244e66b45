"""The one state-machine rule every workflow shares (incidents now; wishes, bookings and
notices next).

A workflow is a table `{action: Rule}`. A rule names the states it may start from, who may
take it (`who(user, record) -> bool`) and flags its applier reads: `records` (the action
writes a timeline event) and `checks_text` (a resident's text goes through WeChat content
security first). `check()` gives every workflow the same contract: a user who may not take
the action → 403, a record in the wrong state → 409 `invalid_transition` naming the current
state. Schemas derive their list of actions from the table (`actions()`), never copy it.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable

from app.errors import Conflict, Forbidden


@dataclass(frozen=True)
class Rule:
    sources: tuple[Enum, ...]  # the states the action may start from
    who: Callable[[Any, Any], bool]  # may this user take this action on this record?
    records: bool = True  # the action writes a timeline event
    checks_text: bool = False  # a resident's note is checked by content security first


def check(table: dict[str, Rule], action: str, user, record, noun: str) -> Rule:
    """The rule for `action` if `user` may take it on `record` now; 403 or 409 otherwise.
    `record.status` is a labelled enum (`.label` in Chinese); `noun` names the record."""
    rule = table[action]
    if not rule.who(user, record):
        raise Forbidden(f"你不能对这条{noun}执行此操作")
    if record.status not in rule.sources:
        raise Conflict(f"当前状态为“{record.status.label}”，不能执行此操作",
                       code="invalid_transition", errors={"status": record.status.value})
    return rule


def actions(table: dict[str, Rule]) -> list[str]:
    """The actions of a table, for a schema's `OneOf`."""
    return list(table)
