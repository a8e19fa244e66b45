"""Console fixtures: sign in through the QR flow over HTTP, as a browser and the
mini-program would (the Playwright tests do the same in Chromium).

- `console_login(openid, client=None)`: a Flask test client signed in to the console as
  `openid` (login page, QR nonce, the mini-program's approve call, the page's poll)
- `start_login(client)` -> (nonce, csrf): a sign-in page opened and its QR nonce made
- `csrf_of(client, path)`: the CSRF token of a console page
- `audit_rows()`: the console audit log as (actor openid, action, target kind, id, before,
  after)
"""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.helpers import in_app

CSRF = re.compile(r'"X-CSRF-Token": "([0-9a-f]+)"')
NONCE = re.compile(r'data-nonce="([^"]+)"')


def csrf_in(html: str) -> str:
    found = CSRF.search(html)
    assert found, html[:500]
    return found.group(1)


@pytest.fixture
def start_login():
    def start(client) -> tuple[str, str]:
        page = client.get("/console/login")
        assert page.status_code == 200 and "扫码登录" in page.text
        csrf = csrf_in(page.text)
        qr = client.post("/console/login/qr", headers={"X-CSRF-Token": csrf})
        assert qr.status_code == 200, qr.text
        return NONCE.search(qr.text).group(1), csrf
    return start


def poll(client, nonce: str, csrf: str):
    return client.post("/console/login/poll", data={"nonce": nonce},
                       headers={"X-CSRF-Token": csrf, "HX-Request": "true"})


@pytest.fixture
def console_login(app, client, people, start_login):
    def sign_in(openid: str, browser=None):
        browser = browser or app.test_client()
        nonce, csrf = start_login(browser)
        approved = client.post("/api/v1/console/approve", headers=people[openid],
                               json={"nonce": nonce})
        assert approved.status_code == 200, approved.get_json()
        done = poll(browser, nonce, csrf)
        assert done.status_code == 204 and done.headers["HX-Redirect"] == "/console/", done.text
        return browser
    return sign_in


@pytest.fixture
def csrf_of():
    def read(client, path: str = "/console/") -> str:
        page = client.get(path)
        assert page.status_code == 200, page.text[:300]
        return csrf_in(page.text)
    return read


@pytest.fixture
def audit_rows(app):
    def read() -> list[tuple]:
        from app.extensions import db
        from app.models import ConsoleAudit, User

        def rows():
            return [tuple(r) for r in db.session.execute(
                sa.select(User.openid, ConsoleAudit.action, ConsoleAudit.target_kind,
                          ConsoleAudit.target_id, ConsoleAudit.before, ConsoleAudit.after)
                .join(User, User.id == ConsoleAudit.actor_id).order_by(ConsoleAudit.id))]
        return in_app(app, rows)
    return read
