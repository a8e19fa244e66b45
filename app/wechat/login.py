"""wx.login code -> WeChat identity, through the real client (sandbox in dev and tests)."""
from __future__ import annotations

from dataclasses import dataclass

from wechatpy.exceptions import WeChatClientException

from app.errors import AppError, ServiceUnavailable, Unauthorized
from app.wechat.client import get_client

# 40029 invalid code, 40163 code already used, 40226 high-risk user blocked by WeChat.
INVALID_CODE_ERRCODES = {40029, 40163}


@dataclass(frozen=True)
class WeChatIdentity:
    openid: str
    session_key: str
    unionid: str | None


def code_to_session(code: str) -> WeChatIdentity:
    try:
        result = get_client().wxa.code_to_session(code)
    except WeChatClientException as exc:
        if exc.errcode in INVALID_CODE_ERRCODES:
            raise Unauthorized("登录凭证无效或已过期，请重新进入小程序",
                               code="invalid_login_code") from None
        if exc.errcode == 40226:
            raise AppError("微信判定该账号存在风险，暂时无法登录", code="login_blocked",
                           status=403) from None
        # 45011 (rate limit), -1 (busy), timeouts, 5xx: worth retrying later.
        raise ServiceUnavailable("微信登录服务繁忙，请稍后再试",
                                 code="wechat_unavailable") from None
    return WeChatIdentity(openid=result["openid"], session_key=result["session_key"],
                          unionid=result.get("unionid"))
