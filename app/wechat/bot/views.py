"""`GET, POST /wechat/callback`: WeChat's door into the bot.

This blueprint answers XML or `success`, never the JSON envelope, and never a 500: WeChat
would tell the follower "该公众号暂时无法提供服务". A bad signature is 403 with nothing
read; anything else that goes wrong (malformed XML, the database down, a bug) is logged
without the message's content and answered `success`, which also stops WeChat's retries.
"""
from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, current_app, request
from limits import parse as parse_limit

from app.extensions import db, limiter
from app.wechat.bot import deferred, inbound, outbound, replies, wire

log = logging.getLogger(__name__)
blp = Blueprint("wechat_bot", __name__, url_prefix="/wechat")
SUCCESS = "success"


def _plain(text: str, status: int = 200) -> Response:
    return Response(text, status=status, mimetype="text/plain")


@blp.errorhandler(Exception)
def _never_500(error):
    if getattr(error, "code", None) in (403, 405) and hasattr(error, "get_response"):
        return _plain("forbidden" if error.code == 403 else "method not allowed", error.code)
    log.error("wechat callback failed: %s", type(error).__name__)
    db.session.rollback()
    return _plain(SUCCESS)


def _args() -> tuple[str, str, str]:
    return (request.args.get("timestamp", ""), request.args.get("nonce", ""),
            request.args.get("signature", ""))


@blp.get("/callback")
def verify():
    """WeChat's server check: echo `echostr` when the signature holds."""
    timestamp, nonce, signature = _args()
    if not wire.signed(current_app.config["WECHAT_TOKEN"], signature, timestamp, nonce):
        return _plain("forbidden", 403)
    return _plain(request.args.get("echostr", ""))


@blp.post("/callback")
def callback():
    started = time.monotonic()
    config = current_app.config
    token, aes_key, appid = config["WECHAT_TOKEN"], config["WECHAT_AES_KEY"], config["WECHAT_MP_APPID"]
    timestamp, nonce, signature = _args()
    safe = request.args.get("encrypt_type", "").lower() == "aes"
    if (request.content_length or 0) > wire.MAX_BODY:
        log.warning("wechat callback: body too large")
        return _plain(SUCCESS)
    body = request.get_data(cache=False)[:wire.MAX_BODY]
    try:
        if safe:
            if not aes_key:
                log.warning("wechat callback: safe-mode message but WECHAT_AES_KEY is not set")
                return _plain(SUCCESS)
            xml = wire.decrypt(token, aes_key, appid, body, request.args.get("msg_signature", ""),
                               timestamp, nonce)
        else:
            if not wire.signed(token, signature, timestamp, nonce):
                return _plain("forbidden", 403)
            xml = body
        message = wire.parse(xml)
    except wire.BadSignature:
        return _plain("forbidden", 403)
    except wire.Malformed as error:
        log.warning("wechat callback: malformed message (%s)", error)
        return _plain(SUCCESS)
    if _too_fast(message.openid):
        return _reply(message, replies.TOO_FAST, safe, nonce, timestamp)
    seen, known = inbound.first_look(message)
    if seen:  # WeChat's retry of something handled: nothing to do
        db.session.rollback()
        return _plain(SUCCESS)
    unionid = None
    if not known:
        db.session.rollback()  # nothing calls WeChat inside a transaction
        unionid = outbound.unionid_of(message.openid)
    outcome = inbound.receive(message, unionid, started)
    if outcome.deferred is not None:
        deferred.kick(current_app._get_current_object(), outcome.deferred)
    if not outcome.reply:
        return _plain(SUCCESS)
    return _reply(message, outcome.reply, safe, nonce, timestamp)


def _reply(message, text: str, safe: bool, nonce: str, timestamp: str) -> Response:
    xml = wire.render(message, text)
    if safe:
        config = current_app.config
        xml = wire.encrypt(config["WECHAT_TOKEN"], config["WECHAT_AES_KEY"],
                           config["WECHAT_MP_APPID"], xml, nonce, timestamp)
    return Response(xml, mimetype="application/xml")


def _too_fast(openid: str) -> bool:
    """Per follower (BOT_RATELIMIT): a flood is answered without touching the database."""
    if not limiter.enabled:
        return False
    item = parse_limit(current_app.config["BOT_RATELIMIT"])
    return not limiter.limiter.hit(item, "wechat-bot", openid)


def document(app, spec) -> None:
    """The callback in the OpenAPI document (it is WeChat's, not the API's: XML, no envelope)."""
    query = ("Query: `signature`, `timestamp`, `nonce` (and `echostr` for GET; `openid`, "
             "`encrypt_type=aes` and `msg_signature` for POST in safe mode), set by WeChat.")
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == "wechat_bot.callback")
    spec.path(rule=rule, operations={
        "get": {"tags": ["微信公众号"], "summary": "WeChat's server check: echoes echostr",
                "description": query,
                "responses": {"200": {"description": "echostr, as text"},
                              "403": {"description": "bad signature"}}},
        "post": {"tags": ["微信公众号"], "summary": "Messages and events from WeChat (the bot)",
                 "description": query + " Body: WeChat XML (encrypted in safe mode).",
                 "responses": {"200": {"description": "a passive reply (XML) or `success`"},
                               "403": {"description": "bad signature or msg_signature"}}},
    })
