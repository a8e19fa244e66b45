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
"""
from __future__ import annotations

import itertools
import secrets
import threading
import time

from flask import Flask, jsonify, request

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
