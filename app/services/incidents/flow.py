"""The incident state machine: one table of transitions, one function that applies them.

党员接单 (accept) → 部门买单 (resolve) → 群众评单 (confirm and rate, or reopen). Every action
checks role and scope, writes a timeline event and queues its notifications in the same
transaction. A wrong state answers 409 `invalid_transition`; a wrong role or scope 403; an
incident the user may not see at all 404 (the shared contract of
app.services.transitions). `auto_close` is the flow's one move nobody takes: the
incident-auto-close job calls it.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from app.database import outside_transaction
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    CloseReason,
    Department,
    Grid,
    Incident,
    IncidentFollower,
    IncidentStatus,
    PointsRule,
    RejectReason,
    Role,
    ScopeKind,
    User,
)
from app.models.base import utcnow
from app.services import transitions
from app.services.common import insert_or_get
from app.services.incidents import access
from app.services.incidents.categories import deadlines
from app.services.incidents.filing import dispatch
from app.services.incidents.sla import next_step_at
from app.services.incidents.timeline import record, tell
from app.services.permissions import grantees, has_role
from app.services.points import ledger as points
from app.services.transitions import Rule
from app.services.uploads import attach, own_photos
from app.wechat.security import SCENE_COMMENT, check_text

S = IncidentStatus
REOPEN_WINDOW = timedelta(hours=72)
AUTO_CLOSE_AFTER = timedelta(hours=72)
WORKING = (S.DISPATCHED, S.ACCEPTED, S.IN_PROGRESS)
UNFINISHED = (S.SUBMITTED, S.PENDING_REVIEW, S.DISPATCHED, S.ACCEPTED, S.IN_PROGRESS,
              S.ESCALATED)


def _assignee(user: User, incident: Incident) -> bool:
    return incident.assignee_id == user.id or has_role(user, Role.ADMIN)


def _reporter(user: User, incident: Incident) -> bool:
    return incident.reporter_id == user.id


def _manager(user: User, incident: Incident) -> bool:
    return has_role(user, (Role.SECRETARY, Role.STAFF), incident)


def _staff(user: User, incident: Incident) -> bool:
    return has_role(user, Role.STAFF, incident)


def _neighbour(user: User, incident: Incident) -> bool:
    return incident.reporter_id != user.id and has_role(user, Role.RESIDENT, incident)


TRANSITIONS: dict[str, Rule] = {
    "accept": Rule((S.DISPATCHED, S.ESCALATED), access.holds),
    "start": Rule((S.ACCEPTED,), access.holds),
    "resolve": Rule((S.ACCEPTED, S.IN_PROGRESS), access.holds),
    "escalate": Rule(WORKING, _assignee),
    "reassign": Rule((S.SUBMITTED, S.PENDING_REVIEW) + WORKING + (S.ESCALATED,), _manager),
    "reject": Rule(UNFINISHED, _staff),
    "confirm": Rule((S.RESOLVED,), _reporter),
    "reopen": Rule((S.RESOLVED,), _reporter),
    "rate": Rule((S.RESOLVED, S.CLOSED), _reporter),
    # A follow is its own event (no note, no photos): `_follow` records it.
    "follow": Rule(UNFINISHED + (S.RESOLVED,), _neighbour, records=False),
    "comment": Rule(tuple(S), access.can_view, checks_text=True),
}


def transition(user: User, incident_id: int, action: str, note: str | None = None,
               photo_ids: list[int] | None = None, department_id: int | None = None,
               assignee_id: int | None = None, rating: int | None = None,
               reason: str | None = None, duplicate_of: int | None = None) -> Incident:
    incident = access.get_visible(user, incident_id, for_update=True)
    rule = transitions.check(TRANSITIONS, action, user, incident, "随手拍")
    if rule.checks_text and not has_role(user, access.MANAGERS, incident):
        _check_resident_text(user, note)  # ends the transaction: lock and check again
        incident = access.get_visible(user, incident_id, for_update=True)
        transitions.check(TRANSITIONS, action, user, incident, "随手拍")
    photos = own_photos(user, photo_ids or [])
    before = incident.status
    APPLY[action](user, incident, note=note, photos=photos, department_id=department_id,
                  assignee_id=assignee_id, rating=rating, reason=reason,
                  duplicate_of=duplicate_of)
    if rule.records:
        record(incident, user, action, before, note=note,
               photo_ids=attach(photos, "incident", incident.id))
    incident.sla_next_at = next_step_at(incident)
    db.session.commit()
    return incident


def _check_resident_text(user: User, note: str | None) -> None:
    if not note:
        return
    openid = user.openid
    outside_transaction()  # nothing calls WeChat inside a transaction
    if check_text(openid, note, scene=SCENE_COMMENT) != "pass":
        raise ValidationFailed("内容含有违规或待审核信息，请修改后再提交", code="content_risky")


def _require(value, field: str, message: str):
    if value in (None, "", []):
        raise ValidationFailed(message, code="validation_error", errors={"json": {field: [message]}})
    return value


def _accept(user, incident, **_):
    incident.status = S.ACCEPTED
    if incident.responded_at is None:
        incident.responded_at = utcnow()
    tell(incident.reporter_id, incident, "incident_update", f"accept-{incident.reopen_count}",
         note="已有人接单处理")


def _start(user, incident, **_):
    incident.status = S.IN_PROGRESS


def _resolve(user, incident, note, photos, **_):
    _require(note, "note", "请说明处理结果")
    _require(photos, "photo_ids", "请上传至少一张处理后的照片")
    incident.status = S.RESOLVED
    incident.resolved_at = utcnow()
    tell(incident.reporter_id, incident, "incident_update", f"resolve-{incident.reopen_count}",
         note=note)
    followers = db.session.scalars(sa.select(IncidentFollower.user_id).where(
        IncidentFollower.incident_id == incident.id))
    for follower in followers:
        tell(follower, incident, "incident_update", f"resolve-{incident.reopen_count}", note=note)


def _escalate(user, incident, note, department_id, **_):
    _require(note, "note", "请说明上报原因")
    department = db.session.get(Department, _require(department_id, "department_id", "请选择部门"))
    if department is None:
        raise NotFound("部门不存在", code="department_not_found")
    incident.department_id = department.id
    incident.status = S.ESCALATED
    # 社区吹哨、部门报到: the department answers within its own SLA, counted from now.
    incident.respond_by, incident.resolve_by = deadlines(incident.category, utcnow())
    incident.responded_at = None
    for member in grantees(Role.DEPARTMENT, ScopeKind.DEPARTMENT, department.id):
        tell(member, incident, "incident_task", f"escalate-{department.id}", note=note)


def _reassign(user, incident, assignee_id, **_):
    worker = db.session.get(User, _require(assignee_id, "assignee_id", "请选择网格员"))
    grids = _community_grid_ids(incident)
    if worker is None or not any(g.role is Role.GRID_WORKER and g.scope_id in grids
                                 for g in worker.grants):
        raise ValidationFailed("只能指派给本社区的网格员", code="invalid_assignee")
    incident.department_id = None
    dispatch(incident, worker.id, actor=user)  # the SLA clock is not reset


def _community_grid_ids(incident: Incident) -> set[int]:
    return set(db.session.scalars(sa.select(Grid.id).where(
        Grid.community_id == incident.community_id)))


def _reject(user, incident, note, reason, duplicate_of, **_):
    try:
        code = RejectReason(_require(reason, "reason", "请选择不予受理的原因"))
    except ValueError:
        raise ValidationFailed("原因应为 duplicate、not_responsible 或 invalid",
                               code="validation_error", errors={"json": {"reason": ["取值无效"]}}) from None
    if code is RejectReason.NOT_RESPONSIBLE:
        _require(note, "note", "请说明转交给了哪个单位")
    if code is RejectReason.DUPLICATE:
        _merge_into(incident, _require(duplicate_of, "duplicate_of", "请选择重复的那一条"))
    incident.status = S.REJECTED
    incident.reject_reason = code
    incident.closed_at = utcnow()
    tell(incident.reporter_id, incident, "incident_update", "reject",
         note=code.label + (f"：{note}" if note else ""))


def _merge_into(incident: Incident, target_id: int) -> None:
    """A duplicate's reporter and followers follow the original from now on."""
    target = db.session.get(Incident, target_id)
    if target is None or target.id == incident.id or target.community_id != incident.community_id:
        raise ValidationFailed("重复的那一条不存在", code="invalid_duplicate")
    incident.duplicate_of_id = target.id
    people = {incident.reporter_id} | set(db.session.scalars(sa.select(
        IncidentFollower.user_id).where(IncidentFollower.incident_id == incident.id)))
    for person in people - {target.reporter_id}:
        _add_follower(target, person)


def _add_follower(incident: Incident, user_id: int) -> bool:
    _, added = insert_or_get(IncidentFollower, incident_id=incident.id, user_id=user_id)
    if added:  # counted in SQL, so simultaneous "me too"s all count
        incident.follower_count = Incident.follower_count + 1
    return added


def _confirm(user, incident, rating, **_):
    incident.status = S.CLOSED
    incident.closed_at = utcnow()
    incident.close_reason = CloseReason.CONFIRMED
    if rating is not None:
        _rate(user, incident, rating=rating)
    # 群众评单 closes the loop: the reporter earns points, once per incident (idempotent key).
    points.award(incident.reporter_id, PointsRule.INCIDENT_CONFIRMED, incident.id)


def _reopen(user, incident, note, **_):
    _require(note, "note", "请说明还有什么问题")
    if utcnow() - incident.resolved_at > REOPEN_WINDOW:
        raise Conflict("办结已超过72小时，不能重新打开，请重新上报", code="reopen_window_passed")
    incident.reopen_count += 1
    incident.resolved_at = None
    # Back to whoever resolved it; the original deadlines stand (the SLA clock is not reset).
    incident.status = S.ESCALATED if incident.department_id else S.DISPATCHED
    tell(incident.assignee_id, incident, "incident_task", f"reopen-{incident.reopen_count}",
         note=note)


def _rate(user, incident, rating, **_):
    if incident.rating is not None:
        raise Conflict("已经评价过了", code="already_rated")
    if rating is None or not 1 <= rating <= 5:
        raise ValidationFailed("评分应为 1 到 5", code="validation_error",
                               errors={"json": {"rating": ["应为 1 到 5"]}})
    incident.rating = rating


def _follow(user, incident, **_):
    if not _add_follower(incident, user.id):
        raise Conflict("你已经附议过了", code="already_following")
    record(incident, user, "follow")


def _comment(user, incident, note, **_):
    _require(note, "note", "请输入内容")


APPLY = {"accept": _accept, "start": _start, "resolve": _resolve, "escalate": _escalate,
         "reassign": _reassign, "reject": _reject, "confirm": _confirm, "reopen": _reopen,
         "rate": _rate, "follow": _follow, "comment": _comment}
assert set(APPLY) == set(TRANSITIONS)


def auto_close(now: datetime | None = None) -> dict:
    """Resolved and not confirmed within 72 hours: closed, and the timeline says so. An
    auto-closed incident earns the reporter nothing (flushes; the job commits)."""
    now = now or utcnow()
    due = list(db.session.scalars(sa.select(Incident).where(
        Incident.status == IncidentStatus.RESOLVED,
        Incident.resolved_at < now - AUTO_CLOSE_AFTER).with_for_update(skip_locked=True)))
    for incident in due:
        incident.status = IncidentStatus.CLOSED
        incident.closed_at = now
        incident.close_reason = CloseReason.AUTO_CLOSED
        record(incident, None, "auto_close", IncidentStatus.RESOLVED,
               note=CloseReason.AUTO_CLOSED.label)
    return {"closed": len(due)}
