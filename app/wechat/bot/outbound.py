"""The bot's calls to WeChat, through the official account's client (`get_client("mp")`):
follower info (unionid), media download, customer-service text, the menu.

Never called inside a database transaction (callers end theirs first). Errors are
wechatpy's `WeChatClientException` (with `errcode`) or `WeChatUnavailable`.
"""
from __future__ import annotations

from flask import current_app
from wechatpy.exceptions import WeChatClientException

from app.wechat.client import get_client


def unionid_of(openid: str) -> str | None:
    """The follower's unionid from `cgi-bin/user/info` (None when WeChat does not say or
    cannot be asked: binding is tried again at the next message)."""
    try:
        result = get_client("mp").get("user/info", params={"openid": openid, "lang": "zh_CN"})
    except WeChatClientException:
        return None
    unionid = result.get("unionid") if isinstance(result, dict) else None
    return str(unionid)[:64] if unionid else None


def download_media(media_id: str) -> bytes:
    """A temporary media file (a photo the follower sent), at most UPLOAD_MAX_BYTES."""
    response = get_client("mp").media.download(media_id)
    if isinstance(response, dict):  # JSON: WeChat's error answer without an errcode
        raise WeChatClientException(-1, "media/get answered JSON")
    data = response.content
    if len(data) > current_app.config["UPLOAD_MAX_BYTES"]:
        raise WeChatClientException(-1, "media too large")
    return data


def send_text(openid: str, text: str) -> str | None:
    """A customer-service text message (within 48 hours of the follower's last message:
    45015 outside it, 45047 over the quota)."""
    result = get_client("mp").message.send_text(openid, text)
    return str(result.get("msgid")) if result.get("msgid") is not None else None


def create_menu(menu: dict) -> dict:
    return get_client("mp").menu.create(menu)
