"""Content security for user text: WeChat `msg_sec_check` v2.

`errcode` is 0 even for risky text: the verdict is `result.suggest` (pass / review / risky).
When WeChat cannot be asked (a timeout, a network error, an errcode such as -1 system busy)
the verdict is `unavailable`: nobody knows whether the text is fine, so callers never
publish it unchecked and never blame the user for it either. A report is held for review
like `review`; a comment is refused with 503 `content_check_unavailable` (`require_pass`),
and the user sends it again.
"""
from __future__ import annotations

from wechatpy.exceptions import WeChatClientException

from app.errors import ServiceUnavailable, ValidationFailed
from app.wechat.client import get_client

# msg_sec_check scenes: 1 资料 (profile), 2 评论 (comment), 3 论坛 (forum), 4 社交日志.
SCENE_FORUM = 3
SCENE_COMMENT = 2
UNAVAILABLE = "unavailable"


def check_text(openid: str, content: str, scene: int = SCENE_FORUM) -> str:
    """'pass', 'review' or 'risky'; 'unavailable' when WeChat could not be asked."""
    try:
        result = get_client().post("https://api.weixin.qq.com/wxa/msg_sec_check", data={
            "content": content, "version": 2, "scene": scene, "openid": openid})
    except WeChatClientException:  # errcodes, and timeouts (WeChatUnavailable)
        return UNAVAILABLE
    if not isinstance(result, dict):  # not JSON: not an answer
        return UNAVAILABLE
    suggest = (result.get("result") or {}).get("suggest", "review")
    return suggest if suggest in ("pass", "review", "risky") else "review"


def require_pass(openid: str, content: str, scene: int = SCENE_COMMENT) -> None:
    """For text published at once (a comment): 422 `content_risky` unless WeChat passes it,
    503 `content_check_unavailable` when WeChat could not be asked."""
    verdict = check_text(openid, content, scene=scene)
    if verdict == UNAVAILABLE:
        raise ServiceUnavailable("内容安全检查暂时不可用，请稍后再试",
                                 code="content_check_unavailable")
    if verdict != "pass":
        raise ValidationFailed("内容含有违规或待审核信息，请修改后再提交", code="content_risky")
