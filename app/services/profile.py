"""The signed-in user's own profile: what `/me` shows (`me`), nickname and avatar
(`update_profile`), the phone number through WeChat (`bind_phone`).

An avatar is one of the user's own uploads, attached as ("avatar", user id); a new one
replaces it and the old one is detached (its owner's only again). Anyone signed in may see
a current avatar (`can_view_avatar`, named in `uploads.VIEW_CHECKERS`). A nickname is shown
to neighbours and staff, so it goes through WeChat content security first (risky: 422).

The phone number is personal data: stored as WeChat gives it (`purePhoneNumber`), never
logged, dumped masked everywhere (`app.schemas.common.mask_phone`).
"""
from __future__ import annotations

import sqlalchemy as sa

from app.database import outside_transaction
from app.errors import ValidationFailed
from app.extensions import db
from app.models import Upload, User
from app.services.notifications import inbox
from app.services.uploads import attach, own_photos
from app.wechat import login as wechat
from app.wechat.security import check_text

AVATAR = "avatar"
SCENE_PROFILE = 1  # msg_sec_check scene 资料


def can_view_avatar(user: User, upload: Upload) -> bool:
    """A current avatar is shown next to the name: anyone signed in may see it."""
    return True


def avatar_id(user_id: int) -> int | None:
    return db.session.scalar(sa.select(Upload.id).where(
        Upload.ref_kind == AVATAR, Upload.ref_id == user_id).order_by(Upload.id.desc()).limit(1))


def with_avatar(user: User) -> User:
    """The user with `avatar_upload_id` attached for the schema (`avatar_url`)."""
    user.avatar_upload_id = avatar_id(user.id)
    return user


def me(user: User) -> User:
    """What `GET /me` shows: the user with their avatar and unread count attached."""
    user.unread_count = inbox.unread_count(user)
    return with_avatar(user)


def update_profile(user: User, changes: dict) -> User:
    """Change what `changes` names: `nickname` (trimmed by the schema; risky text refused,
    422 `content_risky`) and `avatar_upload_id` (one of my own uploads not attached to
    anything, else 422 `invalid_photos`; None removes the avatar)."""
    user_id, openid = user.id, user.openid
    new_avatar = changes.get("avatar_upload_id")
    current_avatar = avatar_id(user_id) if "avatar_upload_id" in changes else None
    if new_avatar is not None and new_avatar != current_avatar:
        own_photos(user, [new_avatar])  # bad input fails before the remote call
    nickname = changes.get("nickname")
    if nickname is not None and nickname != user.nickname:
        outside_transaction()
        if check_text(openid, nickname, scene=SCENE_PROFILE) == "risky":
            raise ValidationFailed("昵称包含不当内容，请修改", code="content_risky",
                                   errors={"nickname": ["内容不合规"]})
    # Read and lock again: profile changes of one user are applied one at a time.
    user = db.session.scalar(sa.select(User).where(User.id == user_id).with_for_update()
                             .execution_options(populate_existing=True))
    if nickname is not None:
        user.nickname = nickname
    if "avatar_upload_id" in changes:
        current_avatar = avatar_id(user_id)
        if new_avatar != current_avatar:
            photos = own_photos(user, [new_avatar]) if new_avatar is not None else []
            if current_avatar is not None:  # detached: its owner's only again
                old = db.session.get(Upload, current_avatar)
                old.ref_kind, old.ref_id = None, None
            attach(photos, AVATAR, user_id)
    db.session.commit()
    return me(user)


def bind_phone(user: User, code: str) -> User:
    """Store the phone number behind a getPhoneNumber code (422 `invalid_phone_code`, 503
    `wechat_unavailable`); WeChat is asked outside any transaction."""
    user_id = user.id
    outside_transaction()
    phone = wechat.phone_number(code)
    user = db.session.get(User, user_id)
    user.phone = phone
    db.session.commit()
    return me(user)
