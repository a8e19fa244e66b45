"""Signing in by QR code, and the attacks on it: a resident approving, a used or expired
nonce, another browser polling, session fixation, CSRF, sign-out (everywhere), idle
timeout. Over HTTP with the Flask test client (tests/console/test_browser.py does it in
Chromium)."""
from __future__ import annotations

from datetime import timedelta

import time_machine

from app.models.base import utcnow
from tests.console.conftest import csrf_in, poll

STAFF_SIDE = ["demo-grid-worker", "demo-secretary", "demo-staff", "demo-department",
              "demo-canteen", "demo-admin"]


def approve(client, headers, nonce):
    return client.post("/api/v1/console/approve", headers=headers, json={"nonce": nonce})


def test_unsigned_visitor_is_sent_to_the_sign_in_page(client):
    response = client.get("/console/")
    assert response.status_code == 302 and response.headers["Location"] == "/console/login"
    htmx = client.get("/console/moderation", headers={"HX-Request": "true"})
    assert htmx.status_code == 204 and htmx.headers["HX-Redirect"] == "/console/login"


def test_qr_sign_in_for_every_staff_side_role(console_login, world, audit_rows):
    for openid in STAFF_SIDE:
        browser = console_login(openid)
        page = browser.get("/console/")
        assert page.status_code == 200 and page.mimetype == "text/html"
        assert f'data-user-id="{world["users"][openid]}"' in page.text
    actions = [(who, action) for who, action, *_ in audit_rows()]
    for openid in STAFF_SIDE:
        assert (openid, "approve_sign_in") in actions and (openid, "sign_in") in actions


def test_session_cookie_flags(console_login, app, client, people, start_login):
    browser = app.test_client()
    nonce, csrf = start_login(browser)
    approve(client, people["demo-staff"], nonce)
    done = poll(browser, nonce, csrf)
    cookie = [h for h in done.headers.getlist("Set-Cookie") if h.startswith("linli_console=")][0]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # testing; production sets it (cookies._secure)


def test_qr_carries_the_nonce_and_the_poll_waits_until_approved(app, client, people,
                                                                start_login):
    browser = app.test_client()
    nonce, csrf = start_login(browser)
    waiting = poll(browser, nonce, csrf)
    assert waiting.status_code == 200 and "等待在小程序中确认" in waiting.text
    assert browser.get("/console/").status_code == 302  # not signed in yet
    assert approve(client, people["demo-secretary"], f"linli:console:{nonce}").status_code == 200
    assert poll(browser, nonce, csrf).status_code == 204
    assert browser.get("/console/").status_code == 200


def test_a_resident_cannot_approve(app, client, people, start_login):
    browser = app.test_client()
    nonce, csrf = start_login(browser)
    for openid in ("demo-resident", "demo-party-member"):
        refused = approve(client, people[openid], nonce)
        assert refused.status_code == 403
        assert refused.get_json()["code"] == "console_not_staff"
        assert "工作人员" in refused.get_json()["message"]
    assert "等待" in poll(browser, nonce, csrf).text  # still not approved
    assert browser.get("/console/").status_code == 302
    # Nor without a token, nor with a bad nonce.
    assert client.post("/api/v1/console/approve", json={"nonce": nonce}).status_code == 401
    unknown = approve(client, people["demo-staff"], "not-a-nonce")
    assert unknown.status_code == 404 and unknown.get_json()["code"] == "console_nonce_not_found"
    empty = approve(client, people["demo-staff"], "")
    assert empty.status_code == 422


def test_a_used_nonce_is_refused(app, client, people, start_login):
    browser = app.test_client()
    nonce, csrf = start_login(browser)
    assert approve(client, people["demo-staff"], nonce).status_code == 200
    again = approve(client, people["demo-secretary"], nonce)  # approved already
    assert again.status_code == 409 and again.get_json()["code"] == "console_nonce_used"
    assert poll(browser, nonce, csrf).status_code == 204
    # Consumed: neither approving nor polling it again does anything.
    used = approve(client, people["demo-staff"], nonce)
    assert used.status_code == 409 and used.get_json()["code"] == "console_nonce_used"
    replay = app.test_client()
    replay_csrf = csrf_in(replay.get("/console/login").text)
    refused = poll(replay, nonce, replay_csrf)
    assert refused.status_code == 200 and "已使用" in refused.text
    assert replay.get("/console/").status_code == 302


def test_an_expired_nonce_is_refused(app, client, people, start_login):
    browser = app.test_client()
    nonce, csrf = start_login(browser)
    with time_machine.travel(utcnow() + timedelta(minutes=4)):
        late = approve(client, people["demo-staff"], nonce)
        assert late.status_code == 409 and late.get_json()["code"] == "console_nonce_expired"
        assert "过期" in poll(browser, nonce, csrf).text


def test_another_browser_cannot_use_an_approved_nonce(app, client, people, start_login):
    """Someone who photographs the QR code and polls it from their own browser."""
    victim, thief = app.test_client(), app.test_client()
    nonce, csrf = start_login(victim)
    thief_csrf = csrf_in(thief.get("/console/login").text)
    assert approve(client, people["demo-staff"], nonce).status_code == 200
    stolen = poll(thief, nonce, thief_csrf)
    assert "请在显示二维码的浏览器中登录" in stolen.text
    assert thief.get("/console/").status_code == 302
    assert poll(victim, nonce, csrf).status_code == 204  # the right browser still can


def test_session_fixation_gets_a_new_session_id(app, client, people, start_login, audit_rows):
    browser = app.test_client()
    # An attacker plants a session cookie of their own before the victim signs in.
    browser.set_cookie("linli_console", "planted-by-attacker", path="/console")
    nonce, csrf = start_login(browser)
    approve(client, people["demo-staff"], nonce)
    poll(browser, nonce, csrf)
    issued = browser.get_cookie("linli_console", path="/console").value
    assert issued != "planted-by-attacker"
    attacker = app.test_client()
    attacker.set_cookie("linli_console", "planted-by-attacker", path="/console")
    assert attacker.get("/console/").status_code == 302
    # Signing in again in the same browser issues another id; the first one stays its own.
    browser.post("/console/logout", headers={"X-CSRF-Token": csrf_in(browser.get("/console/").text)})
    nonce2, csrf2 = start_login(browser)
    approve(client, people["demo-staff"], nonce2)
    poll(browser, nonce2, csrf2)
    assert browser.get_cookie("linli_console", path="/console").value != issued


def test_csrf_is_required_on_every_post(console_login, audit_rows, app):
    browser = console_login("demo-staff")
    before = len(audit_rows())
    for path in ("/console/logout", "/console/logout-everywhere"):
        refused = browser.post(path)
        assert refused.status_code == 400 and "页面已过期" in refused.text
        forged = browser.post(path, data={"csrf_token": "0" * 64})
        assert forged.status_code == 400
    assert browser.get("/console/").status_code == 200  # still signed in: nothing happened
    assert len(audit_rows()) == before
    # The sign-in page's own POSTs too.
    fresh = app.test_client()
    fresh.get("/console/login")
    assert fresh.post("/console/login/qr").status_code == 400


def test_sign_out_and_the_old_cookie_is_dead(console_login, csrf_of, audit_rows):
    browser = console_login("demo-staff")
    cookie = browser.get_cookie("linli_console", path="/console").value
    out = browser.post("/console/logout", data={"csrf_token": csrf_of(browser)})
    assert out.status_code == 302 and out.headers["Location"] == "/console/login"
    assert browser.get("/console/").status_code == 302
    browser.set_cookie("linli_console", cookie, path="/console")  # replayed
    assert browser.get("/console/").status_code == 302
    assert audit_rows()[-1][:3] == ("demo-staff", "sign_out", "console_sessions")


def test_sign_out_everywhere(console_login, csrf_of, audit_rows):
    office, laptop = console_login("demo-staff"), console_login("demo-staff")
    other = console_login("demo-secretary")
    done = laptop.post("/console/logout-everywhere", data={"csrf_token": csrf_of(laptop)})
    assert done.status_code == 302
    assert office.get("/console/").status_code == 302
    assert laptop.get("/console/").status_code == 302
    assert other.get("/console/").status_code == 200  # someone else's sessions stand
    who, action, kind, _, _, after = audit_rows()[-1]
    assert (who, action, kind, after) == ("demo-staff", "sign_out_everywhere", "users",
                                          {"revoked": 2})


def test_idle_timeout(console_login):
    browser = console_login("demo-staff")
    with time_machine.travel(utcnow() + timedelta(minutes=20)):
        assert browser.get("/console/").status_code == 200  # refreshes the cookie
    with time_machine.travel(utcnow() + timedelta(minutes=45)):
        assert browser.get("/console/").status_code == 200  # 25 idle minutes after that
    with time_machine.travel(utcnow() + timedelta(minutes=80)):
        assert browser.get("/console/").status_code == 302  # 35 idle minutes


def test_a_revoked_grant_ends_the_console_session(console_login, app, world):
    from app.extensions import db
    from app.models import RoleGrant
    from tests.helpers import in_app

    browser = console_login("demo-canteen")
    assert browser.get("/console/").status_code == 200

    def revoke():
        db.session.execute(RoleGrant.__table__.delete().where(
            RoleGrant.user_id == world["users"]["demo-canteen"]))
        db.session.commit()
    in_app(app, revoke)
    assert browser.get("/console/").status_code == 302


def test_console_link_for_development(app, world, audit_rows):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "console-link", "demo-secretary"])
    assert result.exit_code == 0, result.output
    link = result.output.strip()
    assert link.startswith("http://localhost:5000/console/login/link?nonce=")
    path = link.removeprefix("http://localhost:5000")
    browser = app.test_client()
    page = browser.get(path)
    assert page.status_code == 200 and "登录管理后台" in page.text
    assert browser.get("/console/").status_code == 302  # the GET consumed nothing
    query = dict(part.split("=", 1) for part in path.split("?", 1)[1].split("&"))
    signed = browser.post("/console/login/link", data={**query, "csrf_token": csrf_in(page.text)})
    assert signed.status_code == 302 and browser.get("/console/").status_code == 200
    again = app.test_client()
    again_page = again.get(path)
    reused = again.post("/console/login/link", data={**query,
                                                     "csrf_token": csrf_in(again_page.text)},
                        headers={"Referer": "http://localhost" + path})
    assert reused.status_code == 302 and again.get("/console/").status_code == 302
    assert "已使用" in again.get(path).text
    refused = runner.invoke(args=["users", "console-link", "demo-resident"])
    assert refused.exit_code != 0 and "工作人员" in refused.output


def test_qr_codes_are_rate_limited(app, start_login):
    browser = app.test_client()
    _, csrf = start_login(browser)
    answers = [browser.post("/console/login/qr", headers={"X-CSRF-Token": csrf})
               for _ in range(25)]
    limited = [a for a in answers if a.status_code == 429]
    assert len(limited) == 25 - 19  # RATELIMIT_LOGIN: 20 a minute, one spent above
    assert limited[0].mimetype == "text/html" and "操作过于频繁" in limited[0].text
