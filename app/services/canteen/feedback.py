"""民意反馈箱: residents rate a canteen and say why; its staff read and reply; everyone
sees the monthly average.

- `submit`: a verified resident of the canteen's community (403 `not_community_member`
  otherwise), a rating 1–5 and an optional note. The note goes through WeChat content
  security (`moderation.screen`): risky is refused (422 `content_risky`), "review" or an
  unavailable check keeps it `held` for staff to read before anything is shown. At most
  FEEDBACK_PER_DAY a person, canteen and local day (429 `daily_limit_reached`), so nobody
  moves the average alone.
- `list_for_staff` / `get`: the canteen staff and the community staff of the canteen's
  community read the box, newest first. An anonymous note never names its author to
  staff: the author's id and nickname are left out of what the service returns, not just
  hidden by the schema. The author reads their own note (with the reply) too.
- `reply`: the same staff answer once (409 `feedback_already_replied`); the author is told
  through the outbox (`canteen-feedback:<id>:reply`), anonymous or not: the system knows
  who wrote it, the staff do not.
- `monthly`: the average rating and count per Asia/Shanghai month of a canteen over the
  last months, in one grouped query (hidden feedback left out).
- `moderate`: the same staff decide a note: `release` a held one (held → visible) or
  `hide` a held or visible one (→ hidden), by `MODERATION` (app.services.transitions: 403
  for anyone else who may read the note, 409 `invalid_transition` from another state). The
  row keeps only its new status: the model has no column for who decided or why, so the
  console's audit log is where a decision's author and reason are kept.

Feedback of a canteen the user may not read is 404 `feedback_not_found`.
"""
from __future__ import annotations

import sqlalchemy as sa

from app import timeutil
from app.errors import Conflict, Forbidden, NotFound, TooManyRequests
from app.extensions import db
from app.models import Canteen, CanteenFeedback, FeedbackStatus, Role, User
from app.models.base import utcnow
from app.services import moderation, transitions
from app.services.canteen import access
from app.services.notifications.outbox import notify
from app.services.pagination import paginate
from app.services.permissions import has_role
from app.services.points.ledger import home_community
from app.services.transitions import Rule
from app.wechat.security import UNAVAILABLE

FEEDBACK_PER_DAY = 3
READERS = (Role.CANTEEN_STAFF, Role.STAFF)


def reads_box(user: User, canteen: Canteen) -> bool:
    return has_role(user, READERS, canteen)


def _box_staff(user: User, feedback: CanteenFeedback) -> bool:
    return reads_box(user, feedback.canteen)


F = FeedbackStatus
MODERATION: dict[str, Rule] = {
    "release": Rule((F.HELD,), _box_staff, records=False),
    "hide": Rule((F.HELD, F.VISIBLE), _box_staff, records=False),
}
MODERATED_TO = {"release": F.VISIBLE, "hide": F.HIDDEN}


def _member(user: User, canteen: Canteen) -> None:
    if home_community(user) != canteen.community_id:
        raise Forbidden("只有本社区的认证居民可以给食堂提意见", code="not_community_member")


def submit(user: User, canteen_id: int, rating: int, text: str | None = None,
           anonymous: bool = False) -> CanteenFeedback:
    """A new note in the box. One transaction."""
    canteen = access.get_canteen(canteen_id)
    _member(user, canteen)
    _check_limit(user.id, canteen.id)
    verdict = moderation.screen(user, text) if text else "pass"
    # screen() ended the transaction: count again under the user's own row lock, so two
    # notes sent at once cannot both be the last one allowed.
    db.session.execute(sa.select(User.id).where(User.id == user.id).with_for_update())
    _check_limit(user.id, canteen_id)
    held = verdict in ("review", UNAVAILABLE)
    feedback = CanteenFeedback(canteen_id=canteen_id, user_id=user.id, rating=rating, text=text,
                               anonymous=anonymous, created_at=utcnow(),
                               status=FeedbackStatus.HELD if held else FeedbackStatus.VISIBLE)
    db.session.add(feedback)
    db.session.commit()
    return view(user, feedback)


def _check_limit(user_id: int, canteen_id: int) -> None:
    start, end = timeutil.day_bounds(timeutil.today())
    sent = db.session.scalar(sa.select(sa.func.count()).select_from(CanteenFeedback).where(
        CanteenFeedback.user_id == user_id, CanteenFeedback.canteen_id == canteen_id,
        CanteenFeedback.created_at >= start, CanteenFeedback.created_at < end))
    if sent >= FEEDBACK_PER_DAY:
        raise TooManyRequests(f"每天最多提交 {FEEDBACK_PER_DAY} 条意见，请明天再来",
                              code="daily_limit_reached")


def view(user: User, feedback: CanteenFeedback, nicknames: dict[int, str] | None = None) -> dict:
    """A note as `user` may read it: the author only when not anonymous (or it is theirs)."""
    mine = feedback.user_id == user.id
    author = None
    if mine or not feedback.anonymous:
        nickname = (nicknames or {}).get(feedback.user_id)
        if nickname is None:
            nickname = db.session.scalar(sa.select(User.nickname).where(
                User.id == feedback.user_id))
        author = {"id": feedback.user_id, "nickname": nickname}
    return {"id": feedback.id, "canteen_id": feedback.canteen_id, "rating": feedback.rating,
            "text": feedback.text, "anonymous": feedback.anonymous, "status": feedback.status,
            "author": author, "mine": mine, "reply": feedback.reply,
            "replied_at": feedback.replied_at, "created_at": feedback.created_at}


def list_for_staff(user: User, canteen_id: int, cursor: str | None, limit: int,
                   status: str | None = None) -> dict:
    canteen = access.get_canteen(canteen_id)
    if not reads_box(user, canteen):
        raise Forbidden("只有本社区食堂和社区的工作人员可以查看意见箱")
    query = sa.select(CanteenFeedback).where(CanteenFeedback.canteen_id == canteen.id)
    if status:
        query = query.where(CanteenFeedback.status == FeedbackStatus(status))
    page = paginate(query, CanteenFeedback.id, cursor, limit, descending=True)
    named = {f.user_id for f in page["items"] if not f.anonymous}
    nicknames = dict(db.session.execute(sa.select(User.id, User.nickname).where(
        User.id.in_(named))).all()) if named else {}
    return {"items": [view(user, f, nicknames) for f in page["items"]],
            "next_cursor": page["next_cursor"]}


def _readable(user: User, feedback_id: int, *, lock: bool = False) -> CanteenFeedback:
    query = sa.select(CanteenFeedback).where(CanteenFeedback.id == feedback_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    feedback = db.session.scalar(query)
    if feedback is None or not (feedback.user_id == user.id
                                or reads_box(user, feedback.canteen)):
        raise NotFound("意见不存在", code="feedback_not_found")
    return feedback


def get(user: User, feedback_id: int) -> dict:
    return view(user, _readable(user, feedback_id))


def reply(user: User, feedback_id: int, text: str) -> dict:
    """The staff's one answer; the author is told. One transaction."""
    feedback = _readable(user, feedback_id, lock=True)
    if not reads_box(user, feedback.canteen):
        raise Forbidden("只有本社区食堂和社区的工作人员可以回复意见")
    if feedback.reply is not None:
        raise Conflict("这条意见已经回复过了", code="feedback_already_replied",
                       errors={"replied_at": feedback.replied_at.isoformat()})
    now = utcnow()
    feedback.reply, feedback.replied_by_id, feedback.replied_at = text, user.id, now
    notify(feedback.user_id, "canteen_feedback_reply",
           {"feedback_id": feedback.id, "canteen": feedback.canteen.name, "reply": text,
            "at": now.isoformat()}, dedupe_key=f"canteen-feedback:{feedback.id}:reply")
    db.session.commit()
    return view(user, feedback)


def moderate(user: User, feedback_id: int, action: str) -> dict:
    """Release or hide a note (its canteen's staff). One transaction."""
    feedback = _readable(user, feedback_id, lock=True)
    transitions.check(MODERATION, action, user, feedback, "意见")
    feedback.status = MODERATED_TO[action]
    db.session.commit()
    return view(user, feedback)


def _months_back(last: tuple[int, int], months: int) -> list[tuple[int, int]]:
    year, month = last
    out = []
    for _ in range(months):
        out.append((year, month))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return out[::-1]


def monthly(user: User, canteen_id: int, months: int = 12, until: str | None = None) -> dict:
    """Average rating per local month, oldest first, ending with `until` (YYYY-MM, default
    this month). Residents of the community and its staff."""
    canteen = access.get_canteen(canteen_id)
    if not reads_box(user, canteen):
        _member(user, canteen)
    today = timeutil.today()
    last = tuple(int(x) for x in until.split("-")) if until else (today.year, today.month)
    spans = [(f"{y:04d}-{m:02d}", *timeutil.month_bounds(y, m)) for y, m in
             _months_back(last, months)]
    label = sa.case(*[(sa.and_(CanteenFeedback.created_at >= start,
                               CanteenFeedback.created_at < end), name)
                      for name, start, end in spans])
    found = {row.month: row for row in db.session.execute(
        sa.select(label.label("month"), sa.func.count().label("count"),
                  sa.func.avg(CanteenFeedback.rating).label("average"))
        .where(CanteenFeedback.canteen_id == canteen.id,
               CanteenFeedback.status != FeedbackStatus.HIDDEN,
               CanteenFeedback.created_at >= spans[0][1],
               CanteenFeedback.created_at < spans[-1][2])
        .group_by(label))}
    items = []
    for name, _, _ in spans:
        row = found.get(name)
        items.append({"month": name, "count": row.count if row else 0,
                      "average": round(float(row.average), 2) if row else None})
    return {"canteen_id": canteen.id, "items": items}
