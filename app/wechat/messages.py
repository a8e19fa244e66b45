"""Sending messages: mini-program subscribe messages and official-account template messages.

Errors are wechatpy's `WeChatClientException` (with `errcode`) or `WeChatUnavailable`; the
dispatcher decides what each means.
"""
from __future__ import annotations

from flask import current_app

from app.wechat.client import get_client


def send_subscribe(openid: str, template_id: str, data: dict, page: str) -> str | None:
    result = get_client().wxa.send_subscribe_message(openid, template_id, data, page)
    return str(result.get("msgid")) if result.get("msgid") is not None else None


def send_template(mp_openid: str, template_id: str, data: dict, page: str,
                  client_msg_id: str) -> str | None:
    """An official-account template message that opens a mini-program page.

    `client_msg_id` makes WeChat drop a repeat of the same message to the same user (for 10
    minutes), so a dispatcher that dies after sending and is retried does not send twice.
    wechatpy 1.8.18's `send_template` has no such argument, hence the plain post.
    """
    result = get_client("mp").post("message/template/send", data={
        "touser": mp_openid, "template_id": template_id, "data": data,
        "miniprogram": {"appid": current_app.config["WECHAT_APPID"], "pagepath": page},
        "client_msg_id": client_msg_id,
    })
    return str(result.get("msgid")) if result.get("msgid") is not None else None
