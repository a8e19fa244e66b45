"""Users' text through WeChat content security, always outside a transaction.

- `screen(user, text)`: for a submission that staff review anyway (a report, a wish): risky
  → 422 `content_risky`; otherwise the verdict ("pass", "review", or "unavailable" when
  WeChat could not be asked), for the caller to hold the record for review.
- `require_pass(user, note)`: for text shown at once (a comment, a dispute note): 422
  `content_risky` unless WeChat passes it, 503 `content_check_unavailable` when it cannot be
  asked: never blamed on the resident.

Both end the caller's read-only transaction first (`outside_transaction`); the caller reads
and locks what it needs again afterwards.
"""
from __future__ import annotations

from app.database import outside_transaction
from app.errors import ValidationFailed
from app.models import User
from app.wechat import security
from app.wechat.security import SCENE_COMMENT


def screen(user: User, text: str) -> str:
    openid = user.openid
    outside_transaction()  # nothing calls WeChat inside a transaction
    verdict = security.check_text(openid, text)
    if verdict == "risky":
        raise ValidationFailed("内容含有违规信息，请修改后再提交", code="content_risky")
    return verdict


def require_pass(user: User, note: str | None) -> None:
    if not note:
        return
    openid = user.openid
    outside_transaction()  # nothing calls WeChat inside a transaction
    security.require_pass(openid, note, scene=SCENE_COMMENT)
