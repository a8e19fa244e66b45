"""Service posts (服务岗位): staff of a community publish them, members confirmed at that
community (双报到) sign up.

The last place is taken exactly once however many members ask at the same moment: a
sign-up locks the post's row (`SELECT ... FOR UPDATE`; SQLite's write lock from BEGIN),
counts under the lock, and a CHECK (`signup_count <= headcount`) backs it up. A member signs
up once per post (a unique constraint). A member may give the place back before the post
starts, unless already checked in: the cancel takes the same post row lock, so a freed
place is taken once too.

Lock order: the post row, then the member's user row.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    Community,
    LogSource,
    Role,
    ServiceCategory,
    ServiceLog,
    ServicePost,
    ServiceSignup,
    User,
)
from app.models.base import utcnow
from app.services.pagination import paginate
from app.services.party.registrations import confirmed_community, lock_member
from app.services.permissions import has_role


def create_post(user: User, community_id: int, title: str, category: str,
                starts_at: datetime, ends_at: datetime, place: str,
                headcount: int) -> ServicePost:
    """A new post in a community, by its staff. One transaction."""
    community = db.session.get(Community, community_id)
    if community is None:
        raise NotFound("社区不存在", code="community_not_found")
    if not has_role(user, Role.STAFF, community):
        raise Forbidden()
    if ends_at <= starts_at:
        raise ValidationFailed("结束时间应晚于开始时间", code="validation_error",
                               errors={"json": {"ends_at": ["应晚于开始时间"]}})
    if ends_at <= utcnow():
        raise ValidationFailed("结束时间已过", code="validation_error",
                               errors={"json": {"ends_at": ["不能早于现在"]}})
    post = ServicePost(community_id=community_id, title=title,
                       category=ServiceCategory(category), starts_at=starts_at,
                       ends_at=ends_at, place=place, headcount=headcount, signup_count=0,
                       created_by_id=user.id, created_at=utcnow())
    db.session.add(post)
    db.session.commit()
    return post


def get_post(post_id: int, for_update: bool = False) -> ServicePost:
    post = db.session.get(ServicePost, post_id, with_for_update=for_update or None,
                          populate_existing=for_update or None)
    if post is None:
        raise NotFound("服务岗位不存在", code="post_not_found")
    return post


def list_posts(user: User, community_id: int, cursor: str | None, limit: int) -> dict:
    """A community's posts, newest first; `signed_up` says which the user signed up for."""
    if db.session.get(Community, community_id) is None:
        raise NotFound("社区不存在", code="community_not_found")
    page = paginate(sa.select(ServicePost).where(ServicePost.community_id == community_id),
                    ServicePost.id, cursor, limit, descending=True)
    ids = [post.id for post in page["items"]]
    page["signed_up"] = set(db.session.scalars(sa.select(ServiceSignup.post_id).where(
        ServiceSignup.member_id == user.id, ServiceSignup.post_id.in_(ids)))) if ids else set()
    return page


def sign_up(user: User, post_id: int) -> tuple[ServicePost, ServiceSignup]:
    """Take a place on a post: a party member confirmed at its community, before it ends,
    while places are left (409 `post_full`). One transaction."""
    if not has_role(user, Role.PARTY_MEMBER):
        raise Forbidden("只有党员可以报名服务岗位", code="not_party_member")
    post = get_post(post_id, for_update=True)  # the last place is taken once
    lock_member(user.id)
    if confirmed_community(user.id) != post.community_id:
        raise Forbidden("请先在该社区完成双报到", code="not_registered_here")
    if post.ends_at <= utcnow():
        raise Conflict("该服务岗位已结束", code="post_closed")
    existing = db.session.scalar(sa.select(ServiceSignup).where(
        ServiceSignup.post_id == post.id, ServiceSignup.member_id == user.id))
    if existing is not None:
        raise Conflict("你已报名该岗位", code="already_signed_up")
    if post.signup_count >= post.headcount:
        raise Conflict("名额已满", code="post_full", errors={"headcount": post.headcount})
    signup = ServiceSignup(post_id=post.id, member_id=user.id, created_at=utcnow())
    db.session.add(signup)
    post.signup_count += 1
    db.session.commit()
    return post, signup


def cancel_signup(user: User, post_id: int) -> ServicePost:
    """Give my place back before the post starts (409 `post_started`; `already_checked_in`
    once I checked in, which opens half an hour early; `not_signed_up`). One transaction."""
    post = get_post(post_id, for_update=True)  # the same lock as a sign-up
    lock_member(user.id)
    signup = db.session.scalar(sa.select(ServiceSignup).where(
        ServiceSignup.post_id == post.id, ServiceSignup.member_id == user.id))
    if signup is None:
        raise Conflict("你没有报名该服务岗位", code="not_signed_up")
    if db.session.scalar(sa.select(ServiceLog.id).where(
            ServiceLog.post_id == post.id, ServiceLog.member_id == user.id,
            ServiceLog.source == LogSource.CHECKIN)) is not None:
        raise Conflict("你已签到，不能取消报名", code="already_checked_in")
    if post.starts_at <= utcnow():
        raise Conflict("服务已开始，不能取消报名", code="post_started")
    db.session.delete(signup)
    post.signup_count -= 1
    db.session.commit()
    return post


def signed_up(user_id: int, post_id: int) -> bool:
    return db.session.scalar(sa.select(ServiceSignup.id).where(
        ServiceSignup.post_id == post_id, ServiceSignup.member_id == user_id)) is not None


def upcoming_signups(user_id: int, limit: int = 20) -> list[ServicePost]:
    """The posts a member signed up for that have not ended, soonest first."""
    return list(db.session.scalars(
        sa.select(ServicePost).join(ServiceSignup, ServiceSignup.post_id == ServicePost.id)
        .where(ServiceSignup.member_id == user_id, ServicePost.ends_at > utcnow())
        .order_by(ServicePost.starts_at, ServicePost.id).limit(limit)))
