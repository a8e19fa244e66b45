"""The client factory against the sandbox over HTTP: rebased URLs, one bounded token retry,
shared token storage, timeouts."""
from __future__ import annotations

import pytest
from wechatpy.exceptions import WeChatClientException

from app.wechat.client import LinliWeChatClient, WeChatUnavailable, get_client
from app.wechat.storage import make_storage


@pytest.fixture
def fresh_client(app, sandbox_url, ctx):
    def make():
        return LinliWeChatClient("wx-test", "secret", sandbox_url,
                                 session=make_storage(app), timeout=1)
    return make


def test_every_official_url_is_rebased(sandbox_url):
    client = LinliWeChatClient("wx", "s", sandbox_url)
    assert client.API_BASE_URL == sandbox_url + "cgi-bin/"
    assert client.rebase("https://api.weixin.qq.com/wxa/msg_sec_check") == \
        sandbox_url + "wxa/msg_sec_check"
    assert client.rebase("https://example.com/x") == "https://example.com/x"


def test_code_to_session_through_the_sandbox(fresh_client, sandbox):
    result = fresh_client().wxa.code_to_session("sandbox:abc")
    assert result["openid"] == "abc" and result["session_key"]
    assert sandbox.calls() == {"cgi-bin/token": 1, "sns/jscode2session": 1}


def test_token_is_shared_between_clients_through_the_database(fresh_client, sandbox):
    fresh_client().wxa.code_to_session("sandbox:a")
    fresh_client().wxa.code_to_session("sandbox:b")  # another worker: reuses the stored token
    assert sandbox.calls()["cgi-bin/token"] == 1


def test_rejected_token_is_refreshed_once(fresh_client, sandbox):
    client = fresh_client()
    client.wxa.code_to_session("sandbox:a")
    sandbox.expire_tokens()
    assert client.wxa.code_to_session("sandbox:a")["openid"] == "a"
    calls = sandbox.calls()
    assert calls["cgi-bin/token"] == 2 and calls["sns/jscode2session"] == 3


def test_token_retry_is_bounded(fresh_client, sandbox):
    sandbox.fault("sns/jscode2session", errcode=40001, count=10)
    with pytest.raises(WeChatClientException) as raised:
        fresh_client().wxa.code_to_session("sandbox:a")
    assert raised.value.errcode == 40001
    # wechatpy's own retry would loop ten times; ours tries once more and stops.
    assert sandbox.calls()["sns/jscode2session"] == 2


def test_timeout_and_unreachable_raise_unavailable(fresh_client, sandbox, app):
    sandbox.fault("sns/jscode2session", delay=1.5)
    with pytest.raises(WeChatUnavailable):
        fresh_client().wxa.code_to_session("sandbox:a")
    dead = LinliWeChatClient("wx", "s", "http://127.0.0.1:9/", timeout=1,
                             session=make_storage(app))
    with pytest.raises(WeChatUnavailable):
        dead.wxa.code_to_session("sandbox:a")


def test_other_errcodes_are_raised_unchanged(fresh_client, sandbox):
    sandbox.fault("wxa/msg_sec_check", errcode=45009)
    with pytest.raises(WeChatClientException) as raised:
        fresh_client().post("https://api.weixin.qq.com/wxa/msg_sec_check",
                            data={"content": "hi", "version": 2})
    assert raised.value.errcode == 45009
    assert sandbox.calls()["wxa/msg_sec_check"] == 1


def test_get_client_is_configured_from_settings(app, sandbox_url, ctx):
    client = get_client()
    assert client.api_base == sandbox_url and client.timeout == 1
    assert client is get_client()  # reused within a thread


def test_sandbox_records_messages_and_checks_text(fresh_client, sandbox_url):
    import requests

    client = fresh_client()
    client.wxa.send_subscribe_message("openid-1", "tmpl", {"thing1": {"value": "你好"}})
    messages = requests.get(sandbox_url + "sandbox/messages", timeout=5).json()
    assert messages["count"] == 1
    assert messages["items"][0]["body"]["touser"] == "openid-1"
    risky = client.post("https://api.weixin.qq.com/wxa/msg_sec_check",
                        data={"content": "含违禁内容", "version": 2, "scene": 1,
                              "openid": "o"})
    assert risky["result"]["suggest"] == "risky"


def test_a_token_another_process_refreshed_is_used_not_fetched_again(fresh_client, sandbox):
    first, second = fresh_client(), fresh_client()  # two workers, one database
    first.wxa.code_to_session("sandbox:a")
    second.wxa.code_to_session("sandbox:b")  # reads and remembers the same token
    sandbox.expire_tokens()
    first.wxa.code_to_session("sandbox:a")  # refused, fetches and stores a new one
    second.wxa.code_to_session("sandbox:b")  # refused, finds the new one in the database
    assert sandbox.calls()["cgi-bin/token"] == 2
