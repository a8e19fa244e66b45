"""Service hours: check-in and check-out at a post with its rotating QR token, manual
entries by staff, staff verifying a flagged log, and the job closing missing check-outs.

The QR payload is a token signed with the app's SECRET_KEY (itsdangerous, one salt per
purpose: check-in and check-out tokens are not interchangeable), holding the post's id and
a time slot of SLOT_SECONDS; it is valid for PARTY_QR_SECONDS, so a photo of the code sent
home stops working within minutes. A member has one check-in log per post: scanning the
check-in code again finds it, scanning the check-out code again leaves the first check-out.

A log is at most MAX_LOG_HOURS, never in the future and never overlaps another log of the
same member (an open log runs until it is closed). A check-out closes the log verified (the
QR was at the post); one after the post's end plus CHECKOUT_GRACE, or one longer than the
limit, is capped and flagged, as is a log the `party-checkouts` job closes at the post's end
because nobody checked out (the community's staff are told, one message each a run). Staff
verify flagged logs; manual entries are verified by the staff member entering them. A
verified log earns `volunteer_hour` points once (ledger key
`volunteer_hour:<log id>`) and adds its hours to the member's `PartyMember.service_hours`.

Lock order: the member's user row, then the log, then the member's points account.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import orm

from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    Community,
    LogSource,
    PartyMember,
    PointsRule,
    Role,
    RoleGrant,
    ScopeKind,
    ServiceLog,
    ServicePost,
    User,
)
from app.models.base import utcnow
from app.models.party import MAX_LOG_HOURS
from app.services.notifications.outbox import notify_many
from app.services.pagination import paginate
from app.services.party import posts
from app.services.party.registrations import confirmed_community, lock_member
from app.services.permissions import has_role, not_for_oneself
from app.services.points import ledger as points

PURPOSES = {"check_in": "linli.service-post.check-in",
            "check_out": "linli.service-post.check-out"}
SLOT_SECONDS = 60  # the code on the staff's screen changes every minute
EARLY_CHECK_IN = timedelta(minutes=30)  # before the post starts
CHECKOUT_GRACE = timedelta(minutes=30)  # after it ends
LIMIT = timedelta(hours=MAX_LOG_HOURS)
BATCH = 500


# --- the rotating token -----------------------------------------------------------------

def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=PURPOSES[purpose])


def _slot(moment: datetime) -> int:
    return int(moment.timestamp()) // SLOT_SECONDS


def make_token(post_id: int, purpose: str, now: datetime | None = None) -> str:
    return _serializer(purpose).dumps({"post": post_id, "slot": _slot(now or utcnow())})


def read_token(token: str, post_id: int, purpose: str) -> None:
    """422 unless `token` is a valid, current `purpose` token of this post."""
    max_age = current_app.config["PARTY_QR_SECONDS"]
    expired = ValidationFailed("二维码已过期，请扫描现场最新的二维码", code="qr_expired")
    try:
        data = _serializer(purpose).loads(token, max_age=max_age)
    except SignatureExpired:
        raise expired from None
    except BadSignature:
        raise ValidationFailed("二维码无效", code="qr_invalid") from None
    if not isinstance(data, dict) or data.get("post") != post_id:
        raise ValidationFailed("这不是该服务岗位的二维码", code="qr_wrong_post")
    slot, now = data.get("slot"), _slot(utcnow())
    if not isinstance(slot, int) or slot > now or (now - slot) * SLOT_SECONDS > max_age:
        raise expired


def qr(user: User, post_id: int) -> dict:
    """The post's check-in and check-out tokens now, with their QR codes (SVG), for its
    community's staff to show at the post."""
    post = posts.get_post(post_id)
    if not has_role(user, Role.STAFF, post):
        raise Forbidden()
    now = utcnow()
    codes = {}
    for purpose in PURPOSES:
        token = make_token(post.id, purpose, now)
        codes[purpose] = {"token": token, "svg": _svg(token)}
    refresh = datetime.fromtimestamp((_slot(now) + 1) * SLOT_SECONDS, tz=now.tzinfo)
    return {"post_id": post.id, **codes, "refresh_at": refresh,
            "expires_at": now + timedelta(seconds=current_app.config["PARTY_QR_SECONDS"])}


def _svg(payload: str) -> str | None:
    try:
        import segno
    except ImportError:  # optional: the token alone still works (a client draws the code)
        return None
    return segno.make(payload, error="m").svg_inline(scale=4)


# --- check-in and check-out -------------------------------------------------------------

def check_in(user: User, post_id: int, token: str) -> ServiceLog:
    """Check in at a post (a member who signed up, from half an hour before it starts until
    it ends); scanning again returns the same log. One transaction."""
    post = posts.get_post(post_id)
    read_token(token, post.id, "check_in")
    lock_member(user.id)
    log = _checkin_log(user.id, post.id)
    if log is not None:  # scanned twice: nothing changes
        db.session.commit()
        return log
    if not posts.signed_up(user.id, post.id):
        raise Conflict("你没有报名该服务岗位", code="not_signed_up")
    now = utcnow()
    if not post.starts_at - EARLY_CHECK_IN <= now < post.ends_at:
        raise Conflict("不在该岗位的签到时间内", code="post_not_open")
    _no_overlap(user.id, now, None)
    log = ServiceLog(member_id=user.id, community_id=post.community_id, post_id=post.id,
                     source=LogSource.CHECKIN, check_in_at=now, flagged=False,
                     created_by_id=user.id, created_at=now)
    db.session.add(log)
    db.session.commit()
    return log


def check_out(user: User, post_id: int, token: str) -> ServiceLog:
    """Check out: the log closes and, if nothing is odd about it, is verified and earns
    points. Scanning again returns the closed log unchanged. One transaction."""
    post = posts.get_post(post_id)
    read_token(token, post.id, "check_out")
    lock_member(user.id)
    log = _checkin_log(user.id, post.id, for_update=True)
    if log is None:
        raise Conflict("你还没有在该岗位签到", code="not_checked_in")
    if log.check_out_at is None:
        now = utcnow()
        late = now > post.ends_at + CHECKOUT_GRACE
        close(log, post.ends_at if late else now, flagged=late)
        if not log.flagged:
            verify_log(log, None)
    db.session.commit()
    return log


def _checkin_log(user_id: int, post_id: int, for_update: bool = False) -> ServiceLog | None:
    query = sa.select(ServiceLog).where(ServiceLog.post_id == post_id,
                                        ServiceLog.member_id == user_id,
                                        ServiceLog.source == LogSource.CHECKIN)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.scalar(query)


def hours_between(start: datetime, end: datetime) -> Decimal:
    """Hours from start to end, to a tenth (half up)."""
    seconds = Decimal(int((end - start).total_seconds()))
    return (seconds / 3600).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def close(log: ServiceLog, at: datetime, flagged: bool) -> None:
    """Close an open log at `at` (flushes nothing): over the limit it is capped and flagged."""
    at = max(at, log.check_in_at)
    if at - log.check_in_at > LIMIT:
        at, flagged = log.check_in_at + LIMIT, True
    log.check_out_at, log.hours, log.flagged = at, hours_between(log.check_in_at, at), flagged


def _no_overlap(member_id: int, start: datetime, end: datetime | None,
                exclude: int | None = None) -> None:
    """422 `log_overlaps` if [start, end) meets another log of the member (an open log, or
    `end` None, runs on)."""
    query = sa.select(ServiceLog.id).where(
        ServiceLog.member_id == member_id,
        sa.or_(ServiceLog.check_out_at.is_(None), ServiceLog.check_out_at > start))
    if end is not None:
        query = query.where(ServiceLog.check_in_at < end)
    if exclude is not None:
        query = query.where(ServiceLog.id != exclude)
    if db.session.scalar(query.limit(1)) is not None:
        raise ValidationFailed("与已有的服务记录时间重叠", code="log_overlaps",
                               errors={"json": {"check_in_at": ["与已有记录重叠"]}})


# --- verified hours ---------------------------------------------------------------------

def verify_log(log: ServiceLog, verifier: User | None) -> None:
    """Mark a closed, unverified log verified and credit it (flushes): its hours to the
    member's total, `volunteer_hour` points once per log (the ledger key is the log's, so
    even a second call adds no entry; callers check `verified_at` under the member's lock)."""
    log.verified_by_id = verifier.id if verifier else None
    log.verified_at = utcnow()
    db.session.execute(sa.update(PartyMember).where(PartyMember.user_id == log.member_id)
                       .values(service_hours=PartyMember.service_hours + log.hours)
                       .execution_options(synchronize_session=False))
    if points.amount_for(PointsRule.VOLUNTEER_HOUR, log.hours) > 0:
        title = log.post.title if log.post is not None else "社区服务"
        points.award(log.member_id, PointsRule.VOLUNTEER_HOUR, log.id, units=log.hours,
                     actor_id=log.verified_by_id, note=f"{title} {log.hours} 小时")


def _staff_of_community(user: User, community_id: int) -> bool:
    community = db.session.get(Community, community_id)
    return community is not None and has_role(user, Role.STAFF, community)


def add_manual(actor: User, member_id: int, check_in_at: datetime, check_out_at: datetime,
               community_id: int | None = None, post_id: int | None = None,
               note: str | None = None) -> ServiceLog:
    """Staff enter hours a member served (and verify them by doing so). One transaction."""
    post = posts.get_post(post_id) if post_id is not None else None
    community_id = post.community_id if post is not None else community_id
    if community_id is None:
        raise ValidationFailed("请选择社区或服务岗位", code="validation_error",
                               errors={"json": {"community_id": ["此项为必填项"]}})
    if not _staff_of_community(actor, community_id):
        raise Forbidden()
    not_for_oneself(actor, member_id, "不能给自己录入服务时长")
    member = db.session.get(User, member_id)
    if member is None or not has_role(member, Role.PARTY_MEMBER) \
            or confirmed_community(member_id) != community_id:
        raise ValidationFailed("该党员未在本社区报到", code="member_not_registered",
                               errors={"json": {"member_id": ["未在本社区报到"]}})
    _check_window(check_in_at, check_out_at)
    lock_member(member_id)
    _no_overlap(member_id, check_in_at, check_out_at)
    log = ServiceLog(member_id=member_id, community_id=community_id,
                     post_id=post.id if post else None, source=LogSource.MANUAL,
                     check_in_at=check_in_at, check_out_at=check_out_at,
                     hours=hours_between(check_in_at, check_out_at), flagged=False,
                     note=note, created_by_id=actor.id, created_at=utcnow())
    log.post = post
    db.session.add(log)
    db.session.flush()
    verify_log(log, actor)
    db.session.commit()
    return log


def _check_window(start: datetime, end: datetime) -> None:
    def refuse(message: str, code: str, field: str = "check_out_at"):
        raise ValidationFailed(message, code=code, errors={"json": {field: [message]}})

    if end <= start:
        refuse("签退时间应晚于签到时间", "validation_error")
    if end > utcnow():
        refuse("服务时间不能晚于现在", "log_in_future")
    if end - start > LIMIT:
        refuse(f"单次服务最长 {MAX_LOG_HOURS} 小时", "log_too_long")


def get_log(user: User, log_id: int, for_update: bool = False) -> ServiceLog:
    """A log its member or its community's staff may see (404 otherwise)."""
    log = db.session.get(ServiceLog, log_id, with_for_update=for_update or None,
                         populate_existing=for_update or None)
    if log is None or not (log.member_id == user.id or has_role(user, Role.STAFF, log)):
        raise NotFound("服务记录不存在", code="log_not_found")
    return log


def verify(actor: User, log_id: int, hours: Decimal | None = None) -> ServiceLog:
    """Staff verify a flagged log (optionally with fewer hours than recorded), once. One
    transaction."""
    log = get_log(actor, log_id)
    if not has_role(actor, Role.STAFF, log):
        raise Forbidden()
    not_for_oneself(actor, log.member_id, "不能核实自己的服务时长")
    lock_member(log.member_id)
    log = get_log(actor, log_id, for_update=True)
    if log.verified_at is not None:
        raise Conflict("该记录已核实", code="already_verified")
    if log.check_out_at is None:
        raise Conflict("该记录尚未签退", code="log_open")
    if hours is not None:
        if hours > log.hours:
            raise ValidationFailed("核定时长不能超过记录的时长", code="hours_exceed_log",
                                   errors={"json": {"hours": [f"最多 {log.hours} 小时"]}})
        log.hours = hours
    verify_log(log, actor)
    db.session.commit()
    return log


def staff_logs(actor: User, community_id: int, flagged: bool | None, cursor: str | None,
               limit: int) -> dict:
    """A community's logs for its staff, newest first; `flagged` narrows to those to check."""
    if not _staff_of_community(actor, community_id):
        raise Forbidden()
    query = sa.select(ServiceLog).where(ServiceLog.community_id == community_id)
    if flagged is not None:
        query = query.where(ServiceLog.flagged.is_(flagged))
    return paginate(query, ServiceLog.id, cursor, limit, descending=True)


# --- the job ----------------------------------------------------------------------------

def close_missing(now: datetime | None = None) -> dict:
    """Close logs still open at their post's end (nobody checked out), flagged for staff,
    without points. The job's transaction; flushes only."""
    now = now or utcnow()
    logs = list(db.session.scalars(
        sa.select(ServiceLog).join(ServicePost, ServicePost.id == ServiceLog.post_id)
        .where(ServiceLog.check_out_at.is_(None), ServicePost.ends_at <= now)
        .options(orm.contains_eager(ServiceLog.post))
        .order_by(ServiceLog.id).limit(BATCH).with_for_update(of=ServiceLog)))
    for log in logs:
        close(log, log.post.ends_at, flagged=True)
    db.session.flush()
    return {"closed": len(logs), "staff_told": _tell_staff(logs, now)}


def _tell_staff(logs: list[ServiceLog], now: datetime) -> int:
    """One message per staff member of the communities whose logs were just flagged, however
    many logs and communities (flushes). The key names the newest log of theirs, so a run
    again over the same logs tells nobody twice."""
    if not logs:
        return 0
    flagged: dict[int, list[int]] = {}
    for log in logs:
        flagged.setdefault(log.community_id, []).append(log.id)
    staff: dict[int, list[int]] = {}
    for user_id, community_id in db.session.execute(
            sa.select(RoleGrant.user_id, RoleGrant.scope_id).where(
                RoleGrant.role == Role.STAFF, RoleGrant.scope_kind == ScopeKind.COMMUNITY,
                RoleGrant.scope_id.in_(flagged)).order_by(RoleGrant.scope_id)):
        staff.setdefault(user_id, []).append(community_id)
    rows = []
    for user_id, communities in staff.items():
        ids = [log_id for community_id in communities for log_id in flagged[community_id]]
        rows.append((user_id, {"title": "待核实的服务记录", "count": len(ids),
                               "community_id": communities[0], "at": now.isoformat()},
                     f"party:flagged:{user_id}:{max(ids)}"))
    return notify_many("party_logs_flagged", rows)
