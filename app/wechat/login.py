"""wx.login code -> WeChat identity, and a phone-number code -> the user's phone number,
through the real client (sandbox in dev and tests)."""
from __future__ import annotations

from dataclasses import dataclass

from wechatpy.exceptions import WeChatClientException

from app.errors import AppError, ServiceUnavailable, Unauthorized, ValidationFailed
from app.wechat.client import get_client

# 40029 invalid code, 40163 code already used, 40226 high-risk user blocked by WeChat.
INVALID_CODE_ERRCODES = {40029, 40163}
PHONE_PATH = "wxa/business/getuserphonenumber"


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


def phone_number(code: str) -> str:
    """The number behind a getPhoneNumber code (`e.detail.code` of the mini-program's
    phone button): `purePhoneNumber`, without the country code. Invalid or used code: 422
    `invalid_phone_code`; WeChat busy or unreachable: 503 `wechat_unavailable`.

    wechatpy 1.8.18 has no call for it, so it is posted through the client's own `_post`
    (token, base URL, timeout and token refresh as for every call). The number is personal
    data: never logged, stored as given, shown masked."""
    try:
        result = get_client().wxa._post(PHONE_PATH, data={"code": code})
    except WeChatClientException as exc:
        if exc.errcode in INVALID_CODE_ERRCODES:
            raise ValidationFailed("手机号授权已失效，请重新授权", code="invalid_phone_code",
                                   errors={"code": ["授权码无效或已使用"]}) from None
        raise ServiceUnavailable("微信服务繁忙，请稍后再试", code="wechat_unavailable") from None
    phone = str((result.get("phone_info") or {}).get("purePhoneNumber") or "")
    if not (phone.isascii() and phone.isdigit() and 5 <= len(phone) <= 20):
        raise ServiceUnavailable("微信未返回手机号，请稍后再试", code="wechat_unavailable")
    return phone
