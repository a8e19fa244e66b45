"""My profile over HTTP: the token's expiry at login, nickname and avatar (`PUT /me`), the
phone number through getuserphonenumber in the sandbox (`POST /me/phone`), masked wherever
a person is shown."""
from __future__ import annotations

from datetime import datetime, timedelta

import requests
import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.models import AuthToken, Upload, User
from app.models.base import utcnow
from tests.helpers import bearer, in_app
from tests.routes.test_errors import assert_envelope

PHONE = "13812345678"


def put_me(client, headers, **body):
    return client.put("/api/v1/me", headers=headers, json=body)


def bind(client, headers, code=f"sandbox-phone:{PHONE}"):
    return client.post("/api/v1/me/phone", headers=headers, json={"code": code})


def stored(app, openid: str) -> User:
    return in_app(app, lambda: db.session.scalar(sa.select(User).where(User.openid == openid)))


# --- login -------------------------------------------------------------------------------

def test_login_says_when_its_token_expires(app, client):
    moment = datetime.fromisoformat("2026-12-01T10:00:00+00:00")
    with time_machine.travel(moment, tick=False):
        body = client.post("/api/v1/auth/login", json={"code": "sandbox:expiry"}).get_json()
    assert datetime.fromisoformat(body["expires_at"]) == moment + timedelta(days=7)
    stored_expiry = in_app(app, lambda: db.session.scalar(sa.select(AuthToken.expires_at)))
    assert datetime.fromisoformat(body["expires_at"]) == stored_expiry
    # The token works until then and not after.
    with time_machine.travel(moment + timedelta(days=7, seconds=-1), tick=False):
        assert client.get("/api/v1/me", headers=bearer(body["token"])).status_code == 200
    with time_machine.travel(moment + timedelta(days=7), tick=False):
        assert client.get("/api/v1/me", headers=bearer(body["token"])).status_code == 401


# --- nickname ----------------------------------------------------------------------------

def test_nickname_is_trimmed_and_shown(app, client, auth):
    headers = auth("nick")
    response = put_me(client, headers, nickname="  小王 \u3000")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["nickname"] == "小王"
    assert client.get("/api/v1/me", headers=headers).get_json()["nickname"] == "小王"
    assert stored(app, "nick").nickname == "小王"
    # A field not sent stays as it was.
    assert put_me(client, headers).get_json()["nickname"] == "小王"


def test_bad_nicknames_are_422_and_change_nothing(app, client, auth):
    headers = auth("nick")
    before = stored(app, "nick").nickname
    for bad in ["", "   ", "a" * 33, "line\nbreak", "bell\x07", 42]:
        body = assert_envelope(put_me(client, headers, nickname=bad), 422, "validation_error")
        assert "nickname" in body["errors"]["json"], bad
    assert put_me(client, headers, nickname="a" * 32).status_code == 200
    assert stored(app, "nick").nickname == "a" * 32 != before


def test_a_risky_nickname_is_refused_by_content_security(app, client, auth, sandbox):
    headers = auth("nick")
    body = assert_envelope(put_me(client, headers, nickname="违禁昵称"), 422, "content_risky")
    assert body["errors"] == {"nickname": ["内容不合规"]}
    assert stored(app, "nick").nickname != "违禁昵称"
    assert sandbox.calls().get("wxa/msg_sec_check") == 1


# --- avatar ------------------------------------------------------------------------------

def test_my_upload_becomes_my_avatar_anyone_signed_in_may_see(app, client, auth, photo):
    headers, other = auth("face"), auth("neighbour")
    upload_id = photo(headers)
    me = put_me(client, headers, avatar_upload_id=upload_id).get_json()
    assert me["avatar_url"].startswith("http://localhost/api/v1/uploads/")
    assert datetime.fromisoformat(me["avatar_url_expires_at"]) > utcnow()
    # In /me and at the next login too.
    assert client.get("/api/v1/me", headers=headers).get_json()["avatar_url"]
    login = client.post("/api/v1/auth/login", json={"code": "sandbox:face"}).get_json()
    assert login["user"]["avatar_url"]
    # Someone else signed in may fetch it; the signed URL serves the bytes.
    assert client.get(f"/api/v1/uploads/{upload_id}", headers=other).status_code == 200
    image = client.get(me["avatar_url"].removeprefix("http://localhost"))
    assert image.status_code == 200 and image.mimetype == "image/jpeg"


def test_a_new_avatar_replaces_the_old_and_null_removes_it(app, client, auth, photo):
    headers, other = auth("face"), auth("neighbour")
    first, second = photo(headers), photo(headers)
    put_me(client, headers, avatar_upload_id=first)
    me = put_me(client, headers, avatar_upload_id=second).get_json()
    assert f"/uploads/{second}/" in me["avatar_url"]
    # The old one is the owner's only again.
    assert client.get(f"/api/v1/uploads/{first}", headers=other).status_code == 404
    assert client.get(f"/api/v1/uploads/{second}", headers=other).status_code == 200
    # Sending the current avatar again changes nothing.
    assert f"/uploads/{second}/" in put_me(client, headers, avatar_upload_id=second).get_json()[
        "avatar_url"]
    cleared = put_me(client, headers, avatar_upload_id=None).get_json()
    assert cleared["avatar_url"] is None and cleared["avatar_url_expires_at"] is None
    assert client.get(f"/api/v1/uploads/{second}", headers=other).status_code == 404
    assert in_app(app, lambda: db.session.get(Upload, second).ref_kind) is None


def test_only_my_own_free_upload_can_be_my_avatar(app, client, world, people, photo, report):
    mine = people["demo-resident"]
    theirs = photo(people["demo-resident-2"])
    assert_envelope(put_me(client, mine, avatar_upload_id=theirs), 422, "invalid_photos")
    assert_envelope(put_me(client, mine, avatar_upload_id=999999), 422, "invalid_photos")
    # My own photo already attached to my incident report is not free either.
    incident_photo = report()["photos"][0]["id"]
    assert_envelope(put_me(client, mine, avatar_upload_id=incident_photo), 422,
                    "invalid_photos")
    assert in_app(app, lambda: db.session.get(Upload, incident_photo).ref_kind) == "incident"
    assert client.get("/api/v1/me", headers=mine).get_json()["avatar_url"] is None


# --- phone -------------------------------------------------------------------------------

def test_phone_from_getuserphonenumber_is_stored_and_shown_masked(app, client, auth, sandbox):
    headers = auth("caller")
    response = bind(client, headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["phone"] == "138****5678"
    assert PHONE not in response.get_data(as_text=True)
    assert stored(app, "caller").phone == PHONE  # purePhoneNumber, no country code
    me = client.get("/api/v1/me", headers=headers)
    assert me.get_json()["phone"] == "138****5678" and PHONE not in me.get_data(as_text=True)
    login = client.post("/api/v1/auth/login", json={"code": "sandbox:caller"})
    assert PHONE not in login.get_data(as_text=True)
    assert login.get_json()["user"]["phone"] == "138****5678"
    assert sandbox.calls()["wxa/business/getuserphonenumber"] == 1


def test_the_phone_is_masked_for_approvers_too(app, client, world, people, auth):
    # 张阿姨 binds her number; a newcomer asks to join her household; the grid worker who
    # decides sees her among the members, masked.
    assert bind(client, people["demo-resident"]).status_code == 200
    newcomer = auth("newcomer")
    asked = client.put("/api/v1/me/household", headers=newcomer, json={
        "building_id": world["buildings"][("虹桥小区", "1号楼")], "unit": "1", "room": "101"})
    assert asked.status_code == 200, asked.get_json()
    queue = client.get("/api/v1/household-requests", headers=people["demo-grid-worker"])
    assert queue.status_code == 200
    members = [m for item in queue.get_json()["items"] for m in item["members"]]
    assert {"nickname": "张阿姨", "phone": "138****5678"}.items() <= \
        next(m for m in members if m["nickname"] == "张阿姨").items()
    assert PHONE not in queue.get_data(as_text=True)


def test_an_invalid_phone_code_is_422_and_stores_nothing(app, client, auth):
    headers = auth("caller")
    body = assert_envelope(bind(client, headers, code="not-a-phone-code"), 422,
                           "invalid_phone_code")
    assert body["errors"] == {"code": ["授权码无效或已使用"]}
    assert stored(app, "caller").phone is None
    assert_envelope(client.post("/api/v1/me/phone", headers=headers, json={}), 422,
                    "validation_error")


def test_wechat_down_is_503_and_stores_nothing(app, client, auth, sandbox):
    headers = auth("caller")
    sandbox.fault("wxa/business/getuserphonenumber", errcode=-1)
    assert_envelope(bind(client, headers), 503, "wechat_unavailable")
    sandbox.fault("wxa/business/getuserphonenumber", delay=1.5)  # WECHAT_TIMEOUT is 1 s
    assert_envelope(bind(client, headers), 503, "wechat_unavailable")
    assert stored(app, "caller").phone is None
    # WeChat back: the same call works.
    assert bind(client, headers).status_code == 200
    assert stored(app, "caller").phone == PHONE


def test_the_sandbox_implements_getuserphonenumber(sandbox_url):
    token = requests.get(sandbox_url + "cgi-bin/token", timeout=5, params={
        "grant_type": "client_credential", "appid": "a", "secret": "s"}).json()["access_token"]
    answer = requests.post(sandbox_url + "wxa/business/getuserphonenumber", timeout=5,
                           params={"access_token": token},
                           json={"code": "sandbox-phone:13900001111"}).json()
    assert answer["errcode"] == 0
    assert answer["phone_info"]["purePhoneNumber"] == "13900001111"
    assert answer["phone_info"]["countryCode"] == "86"
    bad = requests.post(sandbox_url + "wxa/business/getuserphonenumber", timeout=5,
                        params={"access_token": token}, json={"code": "x"}).json()
    assert bad["errcode"] == 40029


def test_phone_binding_is_rate_limited_per_user(app, client, auth):
    headers = auth("phone-spammer")
    answers = [bind(client, headers, code="wrong").status_code for _ in range(6)]
    assert answers == [422] * 5 + [429]
    assert_envelope(bind(client, headers), 429, "rate_limited")
    assert bind(client, auth("someone-else")).status_code == 200  # per user, not global
