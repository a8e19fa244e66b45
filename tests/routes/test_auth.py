"""Login through the real wechatpy client against the sandbox, and token lifetimes."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.models import AuthToken, User
from app.models.base import utcnow
from tests.helpers import bearer, login


def test_login_creates_a_plain_user_and_token_opens_me(client, ctx):
    response = client.post("/api/v1/auth/login", json={"code": "sandbox:new-person"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"]["roles"] == []  # a resident only once a household verifies them
    assert body["user"]["household"] is None
    me = client.get("/api/v1/me", headers=bearer(body["token"])).get_json()
    assert me["id"] == body["user"]["id"]
    user = db.session.get(User, me["id"])
    assert user.openid == "new-person" and user.unionid == "union-new-person"
    # The session key is kept on the server and never sent to the client.
    assert user.session_key and user.session_key not in response.get_data(as_text=True)
    # Only the hash of the token is stored.
    stored = db.session.scalar(sa.select(AuthToken.token_hash))
    assert stored != body["token"] and len(stored) == 64


def test_second_login_reuses_the_user_and_both_tokens_work(client, ctx):
    first, second = login(client, "twice"), login(client, "twice")
    assert first != second
    ids = {client.get("/api/v1/me", headers=bearer(t)).get_json()["id"] for t in (first, second)}
    assert len(ids) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_demo_resident_sees_household_and_compound(client, world, auth):
    me = client.get("/api/v1/me", headers=auth("demo-resident")).get_json()
    assert me["nickname"] == "张阿姨"
    assert me["compound"] == {"id": world["compounds"]["虹桥小区"], "name": "虹桥小区"}
    assert me["household"]["building"]["name"] == "1号楼"
    assert me["household"]["compound"]["name"] == "虹桥小区"


def test_phone_is_masked_in_me(client, ctx, auth):
    headers = auth("with-phone")
    user = db.session.scalar(sa.select(User).where(User.openid == "with-phone"))
    user.phone = "13812345678"
    db.session.commit()
    text = client.get("/api/v1/me", headers=headers).get_data(as_text=True)
    assert "138****5678" in text and "13812345678" not in text


def test_invalid_code_is_401_and_creates_nobody(client, ctx):
    response = client.post("/api/v1/auth/login", json={"code": "not-a-sandbox-code"})
    assert response.status_code == 401
    assert response.get_json() == {"code": "invalid_login_code",
                                   "message": "登录凭证无效或已过期，请重新进入小程序",
                                   "errors": {}}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_wechat_busy_is_503_retryable(client, ctx, sandbox):
    sandbox.fault("sns/jscode2session", errcode=45011)
    response = client.post("/api/v1/auth/login", json={"code": "sandbox:busy"})
    assert response.status_code == 503
    assert response.get_json()["code"] == "wechat_unavailable"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0
    # The fault was for one call only: the retry a user makes succeeds.
    assert client.post("/api/v1/auth/login", json={"code": "sandbox:busy"}).status_code == 200


def test_wechat_timeout_is_503(client, ctx, sandbox):
    sandbox.fault("sns/jscode2session", delay=1.5)  # WECHAT_TIMEOUT is 1 s in tests
    response = client.post("/api/v1/auth/login", json={"code": "sandbox:slow"})
    assert response.status_code == 503
    assert response.get_json()["code"] == "wechat_unavailable"


def test_expired_token_is_refused(client, ctx):
    token = login(client, "expiring")
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    with time_machine.travel(utcnow() + timedelta(days=7, minutes=1)):
        response = client.get("/api/v1/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.get_json()["code"] == "token_expired"


def test_logout_revokes_only_that_token(client, ctx):
    kept, dropped = login(client, "two-phones"), login(client, "two-phones")
    assert client.post("/api/v1/auth/logout", headers=bearer(dropped)).status_code == 204
    response = client.get("/api/v1/me", headers=bearer(dropped))
    assert response.status_code == 401 and response.get_json()["code"] == "token_revoked"
    assert client.get("/api/v1/me", headers=bearer(kept)).status_code == 200


def test_cli_logout_revokes_every_token(app, client, ctx):
    tokens = [login(client, "lost-phone") for _ in range(2)]
    result = app.test_cli_runner().invoke(args=["users", "logout", "lost-phone"])
    assert "revoked 2 token(s)" in result.output
    assert all(client.get("/api/v1/me", headers=bearer(t)).status_code == 401 for t in tokens)


def test_missing_and_unknown_tokens(client, ctx):
    missing = client.get("/api/v1/me")
    assert missing.status_code == 401 and missing.get_json()["code"] == "missing_token"
    unknown = client.get("/api/v1/me", headers=bearer("made-up"))
    assert unknown.status_code == 401 and unknown.get_json()["code"] == "invalid_token"
    basic = client.get("/api/v1/me", headers={"Authorization": "Basic abc"})
    assert basic.get_json()["code"] == "missing_token"


def test_login_is_rate_limited_per_address(app, client, ctx):
    app.config["RATELIMIT_LOGIN"] = "3 per minute"
    try:
        codes = [client.post("/api/v1/auth/login", json={"code": f"sandbox:r{i}"}).status_code
                 for i in range(3)]
        limited = client.post("/api/v1/auth/login", json={"code": "sandbox:r4"})
    finally:
        app.config["RATELIMIT_LOGIN"] = "20 per minute"
    assert codes == [200, 200, 200]
    assert limited.status_code == 429
    assert limited.get_json()["code"] == "rate_limited"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 3
