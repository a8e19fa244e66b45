"""A small Flask app that imitates the WeChat endpoints Linli uses.

Run with `flask wechat sandbox --port 5001`; point `WECHAT_API_BASE` at it. It serves
WeChat's own paths at its root, so the real wechatpy client talks to it over HTTP.

- Login codes are `sandbox:<openid>`; any other code answers errcode 40029.
- Phone codes for getuserphonenumber are `sandbox-phone:<number>`.
- Text containing 违禁 is `risky`, text containing 待审 is `review` for msg_sec_check v2.
- A template message repeating a (touser, client_msg_id) already sent is not sent again,
  as on WeChat.
- Every message it accepts is recorded: `GET /sandbox/messages[?kind=subscribe]`.
- `POST /sandbox/faults {"path": "cgi-bin/message/subscribe/send", "errcode": 45009,
  "count": 3, "delay": 0}` makes the next `count` calls of that path fail with `errcode`
  (or, with `delay`, answer that many seconds late: a timeout for a client).
- `POST /sandbox/expire-tokens` invalidates every access token issued (tests 40001 refresh).
- `POST /sandbox/reset` forgets everything.

The official account (the bot, app.wechat.bot):
- `GET /cgi-bin/user/info?openid=` answers a unionid: the follower `mp-<openid>` of
  mini-program user `<openid>` gets that user's unionid (`union-<openid>`), so
  `mp-demo-resident` is `demo-resident`; any other follower `union-<follower>`.
- `GET /cgi-bin/media/get?media_id=sandbox-jpeg-…` answers a small JPEG (other ids: 40007).
- `POST /sandbox/send-to-callback {"url", "xml" | "message": {...}, "encrypt": false,
  "token", "aes_key", "appid", "retries": 3, "timeout": 5}` signs (and in safe mode
  encrypts) WeChat-format XML and posts it to the app's callback as WeChat does, again after
  a timeout or an error up to `retries` times in all; it answers each try's status and
  body (decrypted). `post_to_callback()` is the same for tests, benchmarks and scripts.
"""
from __future__ import annotations

import functools
import hashlib
import io
import itertools
import secrets
import threading
import time
from urllib.parse import urlencode

import requests
from flask import Flask, Response, jsonify, request

MESSAGE_KINDS = {
    "cgi-bin/message/subscribe/send": "subscribe",
    "cgi-bin/message/template/send": "template",
    "cgi-bin/message/custom/send": "custom",
    "cgi-bin/menu/create": "menu",
}


class SandboxState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.tokens: set[str] = set()
        self.messages: list[dict] = []
        self.client_msg_ids: dict[tuple, int] = {}
        self.faults: dict[str, dict] = {}
        self.calls: dict[str, int] = {}
        self.ids = itertools.count(1)

    def take_fault(self, path: str) -> dict | None:
        with self.lock:
            self.calls[path] = self.calls.get(path, 0) + 1
            fault = self.faults.get(path)
            if not fault:
                return None
            fault["count"] -= 1
            if fault["count"] <= 0:
                del self.faults[path]
            return fault


def create_sandbox_app() -> Flask:
    app = Flask("linli_wechat_sandbox")
    app.json.ensure_ascii = False
    state = SandboxState()
    app.extensions["sandbox_state"] = state

    def error(errcode: int, errmsg: str):
        return jsonify({"errcode": errcode, "errmsg": errmsg})

    @app.before_request
    def inject_faults():
        path = request.path.lstrip("/")
        if path.startswith("sandbox/"):
            return None
        fault = state.take_fault(path)
        if fault:
            if fault.get("delay"):
                time.sleep(float(fault["delay"]))
            if fault.get("errcode") is not None:
                return error(int(fault["errcode"]), "sandbox injected fault")
        if path != "cgi-bin/token" and request.args.get("access_token") not in state.tokens:
            return error(40001, "invalid credential, access_token is invalid or not latest")
        return None

    @app.get("/cgi-bin/token")
    def token():
        if not request.args.get("appid") or not request.args.get("secret"):
            return error(40013, "invalid appid")
        value = "sandbox-token-" + secrets.token_hex(8)
        with state.lock:
            state.tokens.add(value)
        return jsonify({"access_token": value, "expires_in": 7200})

    @app.get("/sns/jscode2session")
    def jscode2session():
        code = request.args.get("js_code", "")
        if not code.startswith("sandbox:") or len(code) <= len("sandbox:"):
            return error(40029, "invalid code")
        openid = code[len("sandbox:"):]
        return jsonify({"openid": openid, "session_key": secrets.token_urlsafe(16),
                        "unionid": "union-" + openid})

    @app.post("/wxa/business/getuserphonenumber")
    def phone_number():
        code = (request.get_json(force=True, silent=True) or {}).get("code", "")
        if not code.startswith("sandbox-phone:"):
            return error(40029, "invalid code")
        phone = code[len("sandbox-phone:"):]
        return jsonify({"errcode": 0, "errmsg": "ok", "phone_info": {
            "phoneNumber": phone, "purePhoneNumber": phone, "countryCode": "86"}})

    @app.post("/wxa/msg_sec_check")
    def msg_sec_check():
        body = request.get_json(force=True, silent=True) or {}
        content = body.get("content", "")
        suggest = "risky" if "违禁" in content else "review" if "待审" in content else "pass"
        label = 100 if suggest == "pass" else 20001
        return jsonify({"errcode": 0, "errmsg": "ok", "trace_id": secrets.token_hex(8),
                        "result": {"suggest": suggest, "label": label}})

    @app.post("/wxa/media_check_async")
    def media_check_async():
        return jsonify({"errcode": 0, "errmsg": "ok", "trace_id": secrets.token_hex(8)})

    def record(kind: str):
        body = request.get_json(force=True, silent=True) or {}
        with state.lock:
            dedupe = (body.get("touser"), body.get("client_msg_id"))
            if kind == "template" and dedupe[1] and dedupe in state.client_msg_ids:
                # WeChat sends a template message once per (touser, client_msg_id).
                return jsonify({"errcode": 0, "errmsg": "ok",
                                "msgid": state.client_msg_ids[dedupe]})
            message = {"id": next(state.ids), "kind": kind, "body": body,
                       "received_at": time.time()}
            state.messages.append(message)
            if kind == "template" and dedupe[1]:
                state.client_msg_ids[dedupe] = message["id"]
        return jsonify({"errcode": 0, "errmsg": "ok", "msgid": message["id"]})

    for path, kind in MESSAGE_KINDS.items():
        app.add_url_rule("/" + path, f"record_{kind}", lambda kind=kind: record(kind),
                         methods=["POST"])

    @app.get("/cgi-bin/user/info")
    def user_info():
        openid = request.args.get("openid", "")
        if not openid:
            return error(40003, "invalid openid")
        person = openid[3:] if openid.startswith("mp-") else openid
        return jsonify({"subscribe": 1, "openid": openid, "unionid": "union-" + person,
                        "nickname": "", "language": "zh_CN", "subscribe_time": int(time.time())})

    @app.get("/cgi-bin/media/get")
    def media_get():
        if not request.args.get("media_id", "").startswith("sandbox-jpeg"):
            return error(40007, "invalid media_id")
        return Response(_jpeg(), mimetype="image/jpeg")

    @app.post("/sandbox/send-to-callback")
    def send_to_callback():
        body = request.get_json(force=True, silent=True) or {}
        xml = body.get("xml") or (message_xml(**body["message"]) if body.get("message") else "")
        if not body.get("url") or not xml:
            return jsonify({"error": "url and xml (or message) are required"}), 400
        tries = post_to_callback(
            body["url"], xml, token=body.get("token", "sandbox-token"),
            aes_key=body.get("aes_key") if body.get("encrypt") else None,
            appid=body.get("appid", "wx-sandbox-mp-appid"), retries=int(body.get("retries", 3)),
            timeout=float(body.get("timeout", 5)))
        return jsonify({"tries": tries})

    @app.get("/sandbox/messages")
    def messages():
        kind = request.args.get("kind")
        with state.lock:
            items = [m for m in state.messages if kind in (None, m["kind"])]
        return jsonify({"items": items, "count": len(items)})

    @app.get("/sandbox/calls")
    def calls():
        with state.lock:
            return jsonify(dict(state.calls))

    @app.post("/sandbox/faults")
    def faults():
        body = request.get_json(force=True, silent=True) or {}
        path = str(body.get("path", "")).lstrip("/")
        if not path:
            return jsonify({"error": "path is required"}), 400
        with state.lock:
            state.faults[path] = {"errcode": body.get("errcode"),
                                  "count": int(body.get("count", 1)),
                                  "delay": float(body.get("delay", 0))}
        return jsonify({"ok": True})

    @app.post("/sandbox/expire-tokens")
    def expire_tokens():
        with state.lock:
            state.tokens.clear()
        return jsonify({"ok": True})

    @app.post("/sandbox/reset")
    def reset():
        with state.lock:
            state.reset()
        return jsonify({"ok": True})

    return app


@functools.cache  # the same small JPEG for every media id
def _jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 120, 40)).save(out, "JPEG")
    return out.getvalue()


def message_xml(openid: str, kind: str = "text", account: str = "gh_sandbox", msg_id=None,
                create_time: int | None = None, **fields) -> str:
    """WeChat-format XML of a message or event, e.g. `message_xml("mp-x", content="你好")`,
    `message_xml("mp-x", "event", event="subscribe", event_key="qrscene_compound-1")`,
    `message_xml("mp-x", "image", media_id="sandbox-jpeg-1")`, `message_xml("mp-x",
    "location", lat=38.7, lng=111.5, label="虹桥路")`."""
    names = {"content": "Content", "media_id": "MediaId", "event": "Event",
             "event_key": "EventKey", "label": "Label", "pic_url": "PicUrl",
             "format": "Format", "lat": "Location_X", "lng": "Location_Y", "scale": "Scale"}
    nodes = {"ToUserName": account, "FromUserName": openid,
             "CreateTime": str(create_time or int(time.time())), "MsgType": kind}
    if kind != "event":
        nodes["MsgId"] = str(msg_id or secrets.randbelow(10 ** 16))
    for key, value in fields.items():
        nodes[names.get(key, key)] = str(value)
    body = "".join(f"<{k}><![CDATA[{v}]]></{k}>" if not str(v).lstrip("-").replace(".", "").isdigit()
                   else f"<{k}>{v}</{k}>" for k, v in nodes.items())
    return f"<xml>{body}</xml>"


def signed_query(token: str, timestamp: str, nonce: str, **extra) -> str:
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return urlencode({"signature": signature, "timestamp": timestamp, "nonce": nonce, **extra})


def post_to_callback(url: str, xml: str, token: str = "sandbox-token", aes_key: str | None = None,
                     appid: str = "wx-sandbox-mp-appid", retries: int = 3, timeout: float = 5,
                     openid: str | None = None, session=None) -> list[dict]:
    """Post a message to the app's callback as WeChat does: the same signed query each try
    (plain `signature`; in safe mode the body encrypted with WeChatCrypto and `msg_signature`
    over it, `encrypt_type=aes`), tried again after a timeout or a non-200 answer, at most
    `retries` times, and not after an answer. Each try: {status, body} (decrypted in safe mode)
    or {error}."""
    from wechatpy.crypto import WeChatCrypto

    timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
    extra = {"openid": openid} if openid else {}
    body = xml
    if aes_key:
        crypto = WeChatCrypto(token, aes_key, appid)
        encrypted = crypto.encrypt_message(xml, nonce, timestamp)
        msg_signature = encrypted.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
        cipher = encrypted.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
        body = (f"<xml><ToUserName><![CDATA[gh_sandbox]]></ToUserName>"
                f"<Encrypt><![CDATA[{cipher}]]></Encrypt></xml>")
        extra.update({"encrypt_type": "aes", "msg_signature": msg_signature})
    target = f"{url}?{signed_query(token, timestamp, nonce, **extra)}"
    http = session or requests
    tries: list[dict] = []
    for _attempt in range(max(1, retries)):
        try:
            answer = http.post(target, data=body.encode(), timeout=timeout,
                               headers={"Content-Type": "text/xml"})
        except requests.RequestException as exc:
            tries.append({"error": type(exc).__name__})
            continue
        text = answer.text
        if aes_key and answer.status_code == 200 and "<Encrypt>" in text:
            text = _decrypt_reply(token, aes_key, appid, text)
        tries.append({"status": answer.status_code, "body": text})
        if answer.status_code == 200:
            break
    return tries


def _decrypt_reply(token: str, aes_key: str, appid: str, xml: str) -> str:
    from wechatpy.crypto import WeChatCrypto

    def node(name):
        return xml.split(f"<{name}><![CDATA[")[1].split("]]>")[0] if f"<{name}><![CDATA[" in xml \
            else xml.split(f"<{name}>")[1].split(f"</{name}>")[0]
    return WeChatCrypto(token, aes_key, appid).decrypt_message(
        xml, node("MsgSignature"), node("TimeStamp"), node("Nonce"))
