"""WeChat's callback wire format: signatures, safe-mode crypto, XML in and out.

- `signed(token, args)`: plain mode's `signature` over (token, timestamp, nonce);
- safe mode (`encrypt_type=aes`): `msg_signature` over (token, timestamp, nonce, Encrypt),
  checked by wechatpy's `WeChatCrypto.decrypt_message` (never `signature`, which WeChat
  also sends and which does not cover the body);
- `parse(xml)`: the message as an `Inbound` (plain values; entities are never expanded);
- `render(inbound, text)`: a passive text reply, encrypted again in safe mode by the caller.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature as _check_signature

MAX_BODY = 64 * 1024  # WeChat's messages are a few hundred bytes; a text is at most 2048
REPLY_MAX = 600  # characters of a passive or customer-service text (WeChat: 2048 bytes)


class BadSignature(Exception):
    pass


class Malformed(Exception):
    pass


@dataclass
class Inbound:
    openid: str  # FromUserName: the follower
    account: str  # ToUserName: our official account
    kind: str  # MsgType: text, image, location, voice, video, shortvideo, link, event
    create_time: int
    msg_id: str | None = None
    event: str | None = None  # subscribe, unsubscribe, CLICK, SCAN, ...
    event_key: str = ""
    content: str = ""
    media_id: str | None = None
    lat: float | None = None
    lng: float | None = None
    label: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def dedupe_key(self) -> str:
        """Messages by (FromUserName, MsgId), events by (FromUserName, CreateTime, Event,
        EventKey): WeChat's own identity of a delivery, never its content."""
        if self.kind != "event" and self.msg_id:
            return f"m:{self.openid}:{self.msg_id}"
        return f"e:{self.openid}:{self.create_time}:{self.event or ''}:{self.event_key}"[:200]

    def fields(self) -> dict:
        """What a deferred handling needs later (stored on the inbound row)."""
        return {"kind": self.kind, "content": self.content, "media_id": self.media_id,
                "lat": self.lat, "lng": self.lng, "label": self.label}


def signed(token: str, signature: str, timestamp: str, nonce: str) -> bool:
    try:
        _check_signature(token, signature, timestamp, nonce)
    except InvalidSignatureException:
        return False
    return True


def decrypt(token: str, aes_key: str, appid: str, body: bytes, msg_signature: str,
            timestamp: str, nonce: str) -> str:
    """The plain XML of a safe-mode message; BadSignature when msg_signature does not match
    (or the body is not ours: another app id, a broken cipher text)."""
    try:
        return WeChatCrypto(token, aes_key, appid).decrypt_message(
            body, msg_signature, timestamp, nonce)
    except InvalidSignatureException:
        raise BadSignature() from None
    except Exception as exc:  # noqa: BLE001 - broken XML, cipher text or app id
        raise Malformed(type(exc).__name__) from None


def encrypt(token: str, aes_key: str, appid: str, xml: str, nonce: str, timestamp: str) -> str:
    return WeChatCrypto(token, aes_key, appid).encrypt_message(xml, nonce, timestamp)


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def parse(xml: bytes | str) -> Inbound:
    try:
        root = xmltodict.parse(xml, disable_entities=True).get("xml")
    except Exception as exc:  # noqa: BLE001 - expat's errors, bad encodings
        raise Malformed(type(exc).__name__) from None
    if not isinstance(root, dict):
        raise Malformed("no <xml> root")
    openid, account, kind = (_text(root.get(k)).strip() for k in
                             ("FromUserName", "ToUserName", "MsgType"))
    try:
        create_time = int(_text(root.get("CreateTime")) or "0")
    except ValueError:
        raise Malformed("CreateTime") from None
    if not openid or not kind or len(openid) > 64:
        raise Malformed("FromUserName/MsgType")
    message = Inbound(openid=openid, account=account, kind=kind.lower(), create_time=create_time,
                      msg_id=_text(root.get("MsgId")).strip()[:64] or None)
    if message.kind == "event":
        message.event = _text(root.get("Event")).strip()[:32]
        message.event_key = _text(root.get("EventKey")).strip()[:100]
    elif message.kind == "text":
        message.content = _text(root.get("Content"))[:2000]
    elif message.kind == "image":
        message.media_id = _text(root.get("MediaId")).strip()[:128] or None
    elif message.kind == "location":
        try:
            message.lat = float(_text(root.get("Location_X")))
            message.lng = float(_text(root.get("Location_Y")))
        except ValueError:
            raise Malformed("Location") from None
        if not (-90 <= message.lat <= 90 and -180 <= message.lng <= 180):
            raise Malformed("Location")
        message.label = _text(root.get("Label"))[:120]
    return message


def render(message: Inbound, text: str) -> str:
    """A passive text reply to `message` (CDATA cannot hold "]]>")."""
    content = text[:REPLY_MAX].replace("]]>", "]]＞")
    return TextReply(source=message.account, target=message.openid, content=content,
                     time=int(time.time())).render()
