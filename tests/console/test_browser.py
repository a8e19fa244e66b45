"""The console in a real browser (Debian's Chromium, driven by Playwright) on a network that
reaches nothing but the app: sign in through the QR flow (the test reads the QR's
`data-nonce` and plays the mini-program's approve call over HTTP), open every page for each
staff-side role, drive a moderation decision, and save a screenshot of the dashboard."""
from __future__ import annotations

from urllib.parse import urlsplit

import requests

from app.models import IncidentStatus
from tests.console.test_pages import incident_status
from tests.console.test_signin import STAFF_SIDE

PAGES = {"/console/": "数字看板", "/console/moderation": "内容审核", "/console/wishes": "微心愿"}


class Watched:
    """A fresh browser context (its own cookies) whose page may reach only the app, with
    what went wrong recorded."""

    def __init__(self, browser, app_url):
        self.own = urlsplit(app_url).netloc
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.blocked, self.errors = [], []
        self.page.route("**/*", self._only_the_app)
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _only_the_app(self, route):
        url = urlsplit(route.request.url)
        if url.scheme in ("data", "blob") or url.netloc == self.own:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def clean(self) -> bool:
        return self.blocked == [] and self.errors == []


def sign_in(browser, app_url, headers) -> Watched:
    watched = Watched(browser, app_url)
    page = watched.page
    page.goto(app_url + "/console/login")
    qr = page.locator("#login-qr[data-nonce]")
    qr.wait_for(timeout=10_000)
    nonce = qr.get_attribute("data-nonce")
    assert page.locator("#login-qr img").get_attribute("src").startswith("data:image/svg+xml")
    # The mini-program's call, with the staff member's token.
    approved = requests.post(app_url + "/api/v1/console/approve", json={"nonce": nonce},
                             headers=headers, timeout=10)
    assert approved.status_code == 200, approved.text
    page.wait_for_url(app_url + "/console/", timeout=15_000)
    return watched


def test_every_page_for_every_staff_side_role_in_chromium(browser, app_url, people, world):
    for openid in STAFF_SIDE:
        watched = sign_in(browser, app_url, people[openid])
        page = watched.page
        for path, heading in PAGES.items():
            page.goto(app_url + path)
            assert page.locator("h1").first.inner_text() == heading, (openid, path)
            assert page.locator(".who").get_attribute("data-user-id") == str(
                world["users"][openid])
        assert watched.clean(), (openid, watched.blocked, watched.errors)
        watched.context.close()


def test_moderation_decision_in_chromium(app, browser, app_url, people, make_incident):
    held = make_incident(status=IncidentStatus.PENDING_REVIEW)
    other = make_incident(reporter="demo-resident-3", building=("盛世华城", "1号楼"),
                          status=IncidentStatus.PENDING_REVIEW)
    elsewhere = sign_in(browser, app_url, people["demo-secretary-2"]).page
    elsewhere.goto(app_url + "/console/moderation")
    assert elsewhere.locator(f'tr.incident[data-id="{held}"]').count() == 0  # not their compound
    assert elsewhere.locator(f'tr.incident[data-id="{other}"]').count() == 1

    watched = sign_in(browser, app_url, people["demo-secretary"])
    page = watched.page
    page.goto(app_url + "/console/moderation")
    assert page.locator(f'tr.incident[data-id="{other}"]').count() == 0
    row = page.locator(f'tr.incident[data-id="{held}"]')
    row.locator("form.approve button").click()
    page.wait_for_selector(".flash.ok", timeout=10_000)
    assert f"#{held}" in page.locator(".flash.ok").inner_text()
    assert page.locator(f'tr.incident[data-id="{held}"]').count() == 0
    assert incident_status(app, held) is IncidentStatus.DISPATCHED
    # Signing out in the browser ends the session.
    page.click("#sign-out")
    page.wait_for_url(app_url + "/console/login", timeout=10_000)
    page.goto(app_url + "/console/moderation")
    assert page.url == app_url + "/console/login"
    assert watched.clean(), (watched.blocked, watched.errors)
