"""Signing in to the console by QR code, and signing out.

1. The sign-in page gives the browser a random *browser secret* (its own cookie) and asks
   for a nonce: `new_nonce(browser_secret)` stores both hashed, for `NONCE_SECONDS`.
2. The staff member scans the QR with the mini-program, which calls `approve(user, nonce)`
   with their bearer token: only a staff-side role (`STAFF_ROLES`) may approve; a nonce
   used, approved before or expired is refused.
3. The page polls `consume(nonce, browser_secret)`: once approved, and only from the
   browser that asked for the nonce (a photo of the QR is not enough), it is consumed and a
   brand-new console session id is issued (nothing from before sign-in survives: no session
   fixation).

A session lives in `console_sessions` (absolute expiry `SESSION_HOURS`, revocation); the
idle timeout is enforced by the signed cookie (app.console.cookies), so a GET writes nothing.
`sign_out` revokes one session, `sign_out_everywhere` all of the user's.

Lock order: the nonce row (FOR UPDATE) only; approving and consuming are conditional
UPDATEs as well (`_claim`).
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa

from app.console import audit
from app.errors import Conflict, Forbidden, NotFound
from app.extensions import db
from app.models import ConsoleNonce, ConsoleSession, Role, User
from app.models.base import utcnow
from app.services import auth

NONCE_SECONDS = 180
QR_PREFIX = "linli:console:"  # the QR code holds QR_PREFIX + nonce
SESSION_HOURS = 12
# Who may use the console: every role that works for the community, none of the residents'.
STAFF_ROLES = (Role.GRID_WORKER, Role.SECRETARY, Role.STAFF, Role.DEPARTMENT,
               Role.CANTEEN_STAFF, Role.ADMIN)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def is_staff(user) -> bool:
    return any(grant.role in STAFF_ROLES for grant in user.grants)


def new_nonce(browser_secret: str) -> str:
    """A fresh nonce for the QR code, bound to the browser that will consume it."""
    nonce = secrets.token_urlsafe(24)
    now = utcnow()
    db.session.add(ConsoleNonce(nonce_hash=digest(nonce), browser_hash=digest(browser_secret),
                                created_at=now, expires_at=now + timedelta(seconds=NONCE_SECONDS)))
    db.session.commit()
    return nonce


def _locked(nonce: str) -> ConsoleNonce:
    key = digest((nonce or "").removeprefix(QR_PREFIX))
    row = db.session.scalar(sa.select(ConsoleNonce).where(ConsoleNonce.nonce_hash == key)
                            .with_for_update())
    if row is None:
        raise NotFound("登录二维码无效", code="console_nonce_not_found")
    if row.consumed_at is not None:
        raise _used()
    if row.expires_at <= utcnow():
        raise Conflict("登录二维码已过期，请刷新网页重新扫码", code="console_nonce_expired")
    return row


def _used() -> Conflict:
    return Conflict("登录二维码已使用，请刷新网页重新扫码", code="console_nonce_used")


def _claim(row: ConsoleNonce, unset, **values) -> bool:
    """Set `values` on the nonce if `unset` is still empty: a conditional UPDATE, so two
    requests racing for one nonce cannot both win, even where FOR UPDATE is a no-op
    (SQLite)."""
    return db.session.execute(sa.update(ConsoleNonce).where(
        ConsoleNonce.id == row.id, unset.is_(None)).values(**values)).rowcount == 1


def approve(user: User, nonce: str) -> ConsoleNonce:
    """The mini-program's "confirm sign-in to the console"; 403 for anyone without a
    staff-side role, 409 for a nonce used, approved before or expired."""
    row = _locked(nonce)
    if not is_staff(user):
        raise Forbidden("只有社区工作人员可以登录管理后台", code="console_not_staff")
    now = utcnow()
    if row.approved_at is not None or not _claim(row, ConsoleNonce.approved_at,
                                                 approved_by_id=user.id, approved_at=now):
        raise _used()
    audit.record(user.id, "approve_sign_in", "console_nonces", row.id, None,
                 {"approved_at": now.isoformat()})
    db.session.commit()
    return row


def consume(nonce: str, browser_secret: str | None, user_agent: str | None
            ) -> tuple[str, User] | None:
    """(a new session id, its user) once the nonce is approved; None while it waits. Only
    the browser holding the secret the nonce was made for may consume it, once."""
    row = _locked(nonce)
    if browser_secret is None or not secrets.compare_digest(row.browser_hash,
                                                            digest(browser_secret)):
        raise Forbidden("请在显示二维码的浏览器中登录", code="console_wrong_browser")
    if row.approved_at is None:
        db.session.rollback()
        return None
    user = auth.load_user(row.approved_by_id)
    if not is_staff(user):  # a grant revoked since the scan
        raise Forbidden("只有社区工作人员可以登录管理后台", code="console_not_staff")
    now = utcnow()
    if not _claim(row, ConsoleNonce.consumed_at, consumed_at=now):
        raise _used()
    sid = secrets.token_urlsafe(32)
    session = ConsoleSession(sid_hash=digest(sid), user_id=user.id, created_at=now,
                             expires_at=now + timedelta(hours=SESSION_HOURS),
                             user_agent=(user_agent or "")[:200] or None)
    db.session.add(session)
    db.session.flush()
    audit.record(user.id, "sign_in", "console_sessions", session.id, None,
                 {"nonce_id": row.id, "expires_at": session.expires_at.isoformat()})
    db.session.commit()
    return sid, user


def session_user(sid: str) -> tuple[ConsoleSession, User] | None:
    """The live session for a session id and its user with grants; None when unknown,
    revoked, expired or the user no longer holds a staff-side role. Reads only."""
    session = db.session.scalar(sa.select(ConsoleSession).where(
        ConsoleSession.sid_hash == digest(sid)))
    if session is None or session.revoked_at is not None or session.expires_at <= utcnow():
        return None
    user = auth.load_user(session.user_id)
    return (session, user) if is_staff(user) else None


def sign_out(session: ConsoleSession) -> None:
    db.session.execute(sa.update(ConsoleSession).where(
        ConsoleSession.id == session.id, ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=utcnow()))
    audit.record(session.user_id, "sign_out", "console_sessions", session.id, None, None)
    db.session.commit()


def sign_out_everywhere(user_id: int) -> int:
    """Revoke every open console session of the user; how many."""
    count = db.session.execute(sa.update(ConsoleSession).where(
        ConsoleSession.user_id == user_id, ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())).rowcount
    audit.record(user_id, "sign_out_everywhere", "users", user_id, None, {"revoked": count})
    db.session.commit()
    return count


def console_link(user: User, base_url: str) -> str:
    """A one-time sign-in link for development (`flask users console-link`): a nonce
    approved for the user now, consumed by whichever browser opens the link first."""
    if not is_staff(user):
        raise Forbidden("只有社区工作人员可以登录管理后台", code="console_not_staff")
    nonce, secret = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    now = utcnow()
    db.session.add(ConsoleNonce(nonce_hash=digest(nonce), browser_hash=digest(secret),
                                created_at=now, expires_at=now + timedelta(seconds=NONCE_SECONDS),
                                approved_by_id=user.id, approved_at=now))
    db.session.commit()
    return f"{base_url.rstrip('/')}/console/login/link?nonce={nonce}&secret={secret}"
