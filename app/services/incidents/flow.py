"""The incident state machine: one table of transitions, one function that applies them.

党员接单 (accept) → 部门买单 (resolve) → 群众评单 (confirm and rate, or reopen). Every action
checks role and scope, writes a timeline event and queues its notifications in the same
transaction. A wrong state answers 409 `invalid_transition`; a wrong role or scope 403; an
incident the user may not see at all 404 (the shared contract of
app.services.transitions). `auto_close` is the flow's one move nobody takes: the
incident-auto-close job calls it.

Handing an incident on: only its grid worker, while holding it (`access.holds`), escalates
it, so a worker who escalated it cannot again. A department does not pass an incident
sideways (街乡吹哨、部门报到: the community calls the department in): one that finds it is not
its job says so in a comment and the secretary or staff `reassign` it to a grid worker, who
may escalate it to the right department; admin may move it from one department to another
(not to the same one, 422 `same_department`). Deadlines: the first escalation gives the
department its own clock, respond and resolve hours counted from then; a later escalation
keeps the earlier of that resolve deadline and the current one, so handing an incident on
never buys time. `respond_by` is always the receiving department's own (it cannot have been
late acknowledging what it just received) but never after `resolve_by`. `reassign` leaves
both deadlines as they are. A department that loses an incident (escalated elsewhere, or
reassigned to a grid worker) is told (`incident_transferred`). `reopen` goes back to whoever
held it when it was resolved: the department, else the grid worker.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from app.database import expire_loaded
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    CloseReason,
    Department,
    Grid,
    Incident,
    IncidentCategory,
    IncidentEvent,
    IncidentFollower,
    IncidentStatus,
    PointsRule,
    RejectReason,
    Role,
    ScopeKind,
    User,
)
from app.models.base import utcnow
from app.services import moderation, transitions
from app.services.common import insert_or_get
from app.services.incidents import access
from app.services.incidents.categories import deadlines
from app.services.incidents.filing import dispatch
from app.services.incidents.sla import next_step_at
from app.services.incidents.timeline import record, tell
from app.services.notifications.outbox import notify_many
from app.services.permissions import grantees, has_role
from app.services.points import ledger as points
from app.services.transitions import Rule
from app.services.uploads import attach, own_photos

S = IncidentStatus
REOPEN_WINDOW = timedelta(hours=72)
AUTO_CLOSE_AFTER = timedelta(hours=72)
AUTO_CLOSE_BATCH = 1000
WORKING = (S.DISPATCHED, S.ACCEPTED, S.IN_PROGRESS)
UNFINISHED = (S.SUBMITTED, S.PENDING_REVIEW, S.DISPATCHED, S.ACCEPTED, S.IN_PROGRESS,
              S.ESCALATED)


def _escalator(user: User, incident: Incident) -> bool:
    """Its handler while no department holds it; once one does, admin only (see the module
    docstring)."""
    return _handler(user, incident) and (incident.department_id is None
                                         or has_role(user, Role.ADMIN))


def _reporter(user: User, incident: Incident) -> bool:
    """The reporter, unless they handled it themselves: nobody closes or rates their own
    work."""
    return incident.reporter_id == user.id and incident.assignee_id != user.id


def _handler(user: User, incident: Incident) -> bool:
    """Whoever holds it, never its own reporter: nobody handles their own report."""
    return incident.reporter_id != user.id and access.holds(user, incident)


def _manager(user: User, incident: Incident) -> bool:
    return has_role(user, (Role.SECRETARY, Role.STAFF), incident)


def _staff(user: User, incident: Incident) -> bool:
    return has_role(user, Role.STAFF, incident)


def _neighbour(user: User, incident: Incident) -> bool:
    return incident.reporter_id != user.id and has_role(user, Role.RESIDENT, incident)


TRANSITIONS: dict[str, Rule] = {
    "accept": Rule((S.DISPATCHED, S.ESCALATED), _handler),
    "start": Rule((S.ACCEPTED,), _handler),
    "resolve": Rule((S.ACCEPTED, S.IN_PROGRESS), _handler),
    "escalate": Rule(WORKING + (S.ESCALATED,), _escalator),
    "reassign": Rule((S.SUBMITTED, S.PENDING_REVIEW) + WORKING + (S.ESCALATED,), _manager),
    "reject": Rule(UNFINISHED, _staff),
    "confirm": Rule((S.RESOLVED,), _reporter),
    "reopen": Rule((S.RESOLVED,), _reporter),
    "rate": Rule((S.RESOLVED, S.CLOSED), _reporter),
    # A follow is its own event (no note, no photos): `_follow` records it.
    "follow": Rule(UNFINISHED + (S.RESOLVED,), _neighbour, records=False),
    "comment": Rule(tuple(S), access.can_view, checks_text=True),
}

# How the timeline names each event, in every view (the moves above and the events nobody
# takes: filing, dispatch, the SLA steps, auto-close).
LABELS: dict[str, str] = {
    "report": "上报问题", "hold_for_review": "内容待审核", "dispatch": "已派单",
    "accept": "已接单", "start": "开始处理", "resolve": "已办结", "escalate": "已上报部门",
    "reassign": "重新指派", "reject": "不予受理", "confirm": "居民确认解决",
    "reopen": "重新打开", "rate": "居民评价", "follow": "有居民附议", "comment": "留言",
    "auto_close": "自动关闭",
    "sla_respond_secretary": "响应超时，已提醒小区书记",
    "sla_respond_staff": "响应超时，已提醒社区工作者",
    "sla_resolve_secretary": "办结超时，已提醒小区书记",
    "sla_resolve_staff": "办结超时，已提醒社区工作者",
}
assert set(TRANSITIONS) <= set(LABELS)


def transition(user: User, incident_id: int, action: str, note: str | None = None,
               photo_ids: list[int] | None = None, department_id: int | None = None,
               assignee_id: int | None = None, rating: int | None = None,
               reason: str | None = None, duplicate_of: int | None = None) -> Incident:
    incident = access.get_visible(user, incident_id, for_update=True)
    rule = transitions.check(TRANSITIONS, action, user, incident, "随手拍")
    if rule.checks_text and not has_role(user, access.MANAGERS, incident):
        moderation.require_pass(user, note)  # ends the transaction: lock and check again
        incident = access.get_visible(user, incident_id, for_update=True)
        transitions.check(TRANSITIONS, action, user, incident, "随手拍")
    photos = own_photos(user, photo_ids or [])
    before = incident.status
    # The event comes first: the move's notifications name it (timeline.tell).
    event = (record(incident, user, action, before, note=note,
                    photo_ids=attach(photos, "incident", incident.id)) if rule.records else None)
    APPLY[action](user, incident, event=event, note=note, photos=photos,
                  department_id=department_id, assignee_id=assignee_id, rating=rating,
                  reason=reason, duplicate_of=duplicate_of)
    if event is not None:
        event.to_status = incident.status.value  # where the move ended
    incident.sla_next_at = next_step_at(incident)
    db.session.commit()
    return incident


def _require(value, field: str, message: str):
    if value in (None, "", []):
        raise ValidationFailed(message, code="validation_error", errors={"json": {field: [message]}})
    return value


def _accept(user, incident, event, **_):
    incident.status = S.ACCEPTED
    if incident.responded_at is None:
        incident.responded_at = utcnow()
    tell(incident.reporter_id, incident, "incident_update", event, note="已有人接单处理")
    followers = db.session.scalars(sa.select(IncidentFollower.user_id).where(
        IncidentFollower.incident_id == incident.id))
    for follower in followers:
        tell(follower, incident, "incident_update", event, note="已有人接单处理")


def _start(user, incident, **_):
    incident.status = S.IN_PROGRESS


def _resolve(user, incident, event, note, photos, **_):
    _require(note, "note", "请说明处理结果")
    _require(photos, "photo_ids", "请上传至少一张处理后的照片")
    incident.status = S.RESOLVED
    incident.resolved_at = utcnow()
    tell(incident.reporter_id, incident, "incident_update", event, note=note)
    followers = db.session.scalars(sa.select(IncidentFollower.user_id).where(
        IncidentFollower.incident_id == incident.id))
    for follower in followers:
        tell(follower, incident, "incident_update", event, note=note)


def _escalate(user, incident, event, note, department_id, **_):
    _require(note, "note", "请说明上报原因")
    department = db.session.get(Department, _require(department_id, "department_id", "请选择部门"))
    if department is None:
        raise NotFound("部门不存在", code="department_not_found")
    if department.id == incident.department_id:
        raise ValidationFailed("该随手拍已由这个部门处理", code="same_department")
    # 社区吹哨、部门报到: the department answers within its own SLA, counted from now; passed
    # on again, the earlier resolve deadline stands (see the module docstring).
    respond_by, resolve_by = deadlines(incident.category, utcnow())
    if _escalated_before(incident, event):
        resolve_by = min(resolve_by, incident.resolve_by)
    incident.respond_by, incident.resolve_by = min(respond_by, resolve_by), resolve_by
    incident.responded_at = None
    _tell_department_it_lost(user, incident, event, to=department.name, note=note)
    incident.department_id = department.id
    incident.status = S.ESCALATED
    for member in grantees(Role.DEPARTMENT, ScopeKind.DEPARTMENT, department.id):
        tell(member, incident, "incident_task", event, note=note)


def _escalated_before(incident: Incident, event: IncidentEvent) -> bool:
    db.session.flush()  # the event's id, to leave it out
    return db.session.scalar(sa.select(sa.exists().where(
        IncidentEvent.incident_id == incident.id, IncidentEvent.action == "escalate",
        IncidentEvent.id != event.id)))


def _tell_department_it_lost(user, incident, event, to: str, note: str) -> None:
    """The members of the department holding `incident` (if one does), but the one acting,
    are told it went to `to`; call before the move."""
    if incident.department_id is None:
        return
    for member in access.holders(incident):
        if member != user.id:
            tell(member, incident, "incident_transferred", event, note=note, to=to)


def _reassign(user, incident, event, assignee_id, note, **_):
    worker = db.session.get(User, _require(assignee_id, "assignee_id", "请选择网格员"))
    grids = _community_grid_ids(incident)
    if worker is None or not any(g.role is Role.GRID_WORKER and g.scope_id in grids
                                 for g in worker.grants):
        raise ValidationFailed("只能指派给本社区的网格员", code="invalid_assignee")
    if worker.id == incident.reporter_id:
        raise ValidationFailed("不能指派给上报人本人处理", code="invalid_assignee")
    _tell_department_it_lost(user, incident, event, to=f"网格员{worker.nickname or ''}",
                             note=note or "社区已重新指派")
    incident.department_id = None
    dispatch(incident, worker.id, actor=user)  # the deadlines stand


def _community_grid_ids(incident: Incident) -> set[int]:
    return set(db.session.scalars(sa.select(Grid.id).where(
        Grid.community_id == incident.community_id)))


def _reject(user, incident, event, note, reason, duplicate_of, **_):
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
    tell(incident.reporter_id, incident, "incident_update", event,
         note=code.label + (f"：{note}" if note else ""))


def _merge_into(incident: Incident, target_id: int) -> None:
    """A duplicate's reporter and followers follow the original from now on (they see it
    in the public view, list it under `scope=following` and hear when it is accepted and
    resolved). Merged into a report that was itself merged away, they follow the one it
    was merged into, so nobody follows a closed duplicate."""
    target = db.session.get(Incident, target_id)
    seen = {incident.id}
    while target is not None and target.duplicate_of_id is not None and target.id not in seen:
        seen.add(target.id)
        target = db.session.get(Incident, target.duplicate_of_id)
    if target is None or target.id in seen or target.community_id != incident.community_id:
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


def _reopen(user, incident, event, note, **_):
    _require(note, "note", "请说明还有什么问题")
    if utcnow() - incident.resolved_at > REOPEN_WINDOW:
        raise Conflict("办结已超过72小时，不能重新打开，请重新上报", code="reopen_window_passed")
    incident.reopen_count += 1
    incident.resolved_at = None
    # Back to whoever held it when it was resolved, the department it was escalated to or
    # else the grid worker; the deadlines stand (the SLA clock is not reset).
    incident.status = S.ESCALATED if incident.department_id else S.DISPATCHED
    for holder in access.holders(incident):
        tell(holder, incident, "incident_reopened", event, note=note)


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
    """Resolved and not confirmed within 72 hours: closed, the timeline says so and the
    reporter and followers are told (`incident_update`, one `notify_many` per batch). Set-
    based, in batches of `AUTO_CLOSE_BATCH` read in id order and locked, skipping rows a
    transition holds. An auto-closed incident earns the reporter nothing (the job commits)."""
    now = now or utcnow()
    closed = told = 0
    last_id = 0
    note = CloseReason.AUTO_CLOSED.label
    while True:
        rows = db.session.execute(
            sa.select(Incident.id, Incident.reporter_id, Incident.description,
                      sa.select(IncidentCategory.name)
                      .where(IncidentCategory.id == Incident.category_id)
                      .scalar_subquery().label("category_name"))
            .where(Incident.status == IncidentStatus.RESOLVED,
                   Incident.resolved_at < now - AUTO_CLOSE_AFTER, Incident.id > last_id)
            .order_by(Incident.id).limit(AUTO_CLOSE_BATCH)
            .with_for_update(of=Incident, skip_locked=True)).all()
        if not rows:
            break
        ids = [row.id for row in rows]
        db.session.execute(
            sa.update(Incident).where(Incident.id.in_(ids))
            .values(status=IncidentStatus.CLOSED, closed_at=now,
                    close_reason=CloseReason.AUTO_CLOSED, updated_at=now)
            .execution_options(synchronize_session=False))
        expire_loaded(Incident, "id", ids, ["status", "closed_at", "close_reason", "updated_at"])
        db.session.execute(sa.insert(IncidentEvent), [
            {"incident_id": i, "actor_id": None, "action": "auto_close", "note": note,
             "photo_ids": [], "from_status": IncidentStatus.RESOLVED.value,
             "to_status": IncidentStatus.CLOSED.value, "created_at": now} for i in ids])
        followers: dict[int, list[int]] = {}
        for incident_id, user_id in db.session.execute(
                sa.select(IncidentFollower.incident_id, IncidentFollower.user_id)
                .where(IncidentFollower.incident_id.in_(ids))):
            followers.setdefault(incident_id, []).append(user_id)
        messages = []
        for row in rows:
            base = {"incident_id": row.id, "title": f"{row.category_name}：{row.description}",
                    "at": now.isoformat(), "note": note, "status": IncidentStatus.CLOSED.label}
            audience = [(row.reporter_id, "您上报的")] + [
                (user, "您关注的") for user in followers.get(row.id, []) if user != row.reporter_id]
            messages += [(user, {**base, "whose": whose}, f"incident:{row.id}:auto_close:{user}")
                         for user, whose in audience]
        told += notify_many("incident_update", messages)
        closed += len(rows)
        last_id = ids[-1]
    return {"closed": closed, "told": told}
