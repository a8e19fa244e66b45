"""Content security for user text: WeChat `msg_sec_check` v2.

`errcode` is 0 even for risky text: the verdict is `result.suggest` (pass / review / risky).
When WeChat cannot be asked, the text is held for review rather than published unchecked.
"""
from __future__ import annotations

from wechatpy.exceptions import WeChatClientException

from app.wechat.client import get_client

# msg_sec_check scenes: 1 资料 (profile), 2 评论 (comment), 3 论坛 (forum), 4 社交日志.
SCENE_FORUM = 3
SCENE_COMMENT = 2


def check_text(openid: str, content: str, scene: int = SCENE_FORUM) -> str:
    """'pass', 'review' or 'risky'."""
    try:
        result = get_client().post("https://api.weixin.qq.com/wxa/msg_sec_check", data={
            "content": content, "version": 2, "scene": scene, "openid": openid})
    except WeChatClientException:
        return "review"
    suggest = (result.get("result") or {}).get("suggest", "review")
    return suggest if suggest in ("pass", "review", "risky") else "review"
