"""The WeChat client factory.

`LinliWeChatClient` is wechatpy's `WeChatClient` with three changes (docs/README.md, "WeChat"):
- every base URL, the token URL included, is rebased onto `WECHAT_API_BASE`, so the bundled
  sandbox and the tests use the real client over HTTP;
- requests time out (`WECHAT_TIMEOUT`, 5 s) and network failures raise `WeChatUnavailable`;
- wechatpy's own retry on an invalid token recurses without limit, so it is off
  (`auto_retry=False`) and replaced by one token refresh and one retry.
"""
from __future__ import annotations

import threading
import time

import requests
from flask import current_app
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

OFFICIAL_BASE = "https://api.weixin.qq.com/"
# 40001 invalid credential, 40014 invalid token, 42001 expired token.
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})


class WeChatUnavailable(WeChatClientException):
    """WeChat could not be reached (timeout, connection error, HTTP 5xx)."""

    def __init__(self, reason: str):
        super().__init__(errcode=-1, errmsg=reason)


class LinliWeChatClient(WeChatClient):
    def __init__(self, appid: str, secret: str, api_base: str, session=None,
                 timeout: float = 5.0):
        super().__init__(appid, secret, session=session, timeout=timeout, auto_retry=False)
        self.api_base = api_base if api_base.endswith("/") else api_base + "/"
        self.API_BASE_URL = self.rebase(WeChatClient.API_BASE_URL)

    def rebase(self, url: str) -> str:
        if url.startswith(OFFICIAL_BASE):
            return self.api_base + url[len(OFFICIAL_BASE):]
        return url

    def _request(self, method, url_or_endpoint, **kwargs):
        base = self.rebase(kwargs.pop("api_base_url", self.API_BASE_URL))
        url = self.rebase(url_or_endpoint) if url_or_endpoint.startswith(("http://", "https://")) \
            else base + url_or_endpoint
        params = dict(kwargs.get("params") or {})
        try:
            return self._send(method, url, kwargs, params)
        except WeChatClientException as exc:
            if exc.errcode not in TOKEN_ERRCODES:
                raise
        # The token was refused. If another process has stored a newer one, use it;
        # otherwise fetch a fresh one. Either way, try exactly once more.
        refused = params.get("access_token")
        getattr(self.session, "forget", lambda key: None)(self.access_token_key)
        current = self.session.get(self.access_token_key)
        if current is None or current == refused:
            self.session.delete(self.access_token_key)
            self.fetch_access_token()
        return self._send(method, url, kwargs, dict(kwargs.get("params") or {}))

    def _send(self, method, url, kwargs, params):
        try:
            # wechatpy writes the current token into `params`: a fresh dict for each try.
            return super()._request(method, url, **dict(kwargs, params=params))
        except requests.RequestException as exc:
            raise WeChatUnavailable(type(exc).__name__) from None

    def fetch_access_token(self):
        # wechatpy's own version hard-codes the official URL and sends no timeout.
        try:
            res = self._http.get(self.api_base + "cgi-bin/token", timeout=self.timeout, params={
                "grant_type": "client_credential", "appid": self.appid, "secret": self.secret})
            res.raise_for_status()
        except requests.RequestException as exc:
            raise WeChatUnavailable(type(exc).__name__) from None
        result = res.json()
        if result.get("errcode"):
            raise WeChatClientException(result["errcode"], result.get("errmsg"), client=self)
        expires_in = int(result.get("expires_in", 7200))
        self.session.set(self.access_token_key, result["access_token"], expires_in)
        self.expires_at = int(time.time()) + expires_in
        return result


_local = threading.local()


def get_client(account: str = "miniprogram") -> LinliWeChatClient:
    """The client for the mini-program or the official account ("mp") of the current app,
    one per thread (requests.Session is not thread-safe)."""
    from app.wechat.storage import make_storage

    app = current_app._get_current_object()
    clients = getattr(_local, "clients", None)
    if clients is None:
        clients = _local.clients = {}
    prefix = "WECHAT_MP_" if account == "mp" else "WECHAT_"
    key = (id(app), account, app.config["WECHAT_API_BASE"])
    client = clients.get(key)
    if client is None:
        client = clients[key] = LinliWeChatClient(
            app.config[prefix + "APPID"], app.config[prefix + "SECRET"],
            app.config["WECHAT_API_BASE"], session=make_storage(app),
            timeout=app.config["WECHAT_TIMEOUT"])
    return client
