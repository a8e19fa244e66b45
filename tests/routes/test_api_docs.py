"""`/api/docs` in a real browser (Debian's Chromium, driven by Playwright), on a network that
reaches nothing but the app: community offices sit on restricted networks, so Swagger UI must
come from the app itself (the swagger-ui-bundle package), never from a CDN."""
from __future__ import annotations

from urllib.parse import urlsplit


def test_docs_render_offline_in_chromium(app_url, browser):
    own = urlsplit(app_url).netloc
    blocked, failed, console_errors = [], [], []
    page = browser.new_page()

    def only_the_app(route):
        url = urlsplit(route.request.url)
        if url.scheme in ("data", "blob") or url.netloc == own:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_app)
    page.on("console", lambda message: message.type == "error"
            and console_errors.append(message.text))
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.on("response", lambda response: response.status >= 400
            and failed.append(f"{response.status} {response.url}"))

    page.goto(app_url + "/api/docs")  # returns once the page and its scripts have loaded
    assert blocked == [], "the docs page tried to reach outside the app"
    page.wait_for_selector(".opblock", timeout=30_000)

    paths = set(page.locator(".opblock-summary-path").evaluate_all(
        "nodes => nodes.map(n => n.getAttribute('data-path'))"))
    assert {"/api/v1/incidents", "/api/v1/auth/login", "/api/v1/me",
            "/api/v1/rewards/{reward_id}/redeem"} <= paths
    assert page.get_by_text("随手拍", exact=True).count() >= 1  # tag descriptions: UTF-8

    # An operation opens with its documented error answers and their codes.
    transition = page.locator(".opblock-post", has=page.locator(
        '[data-path="/api/v1/incidents/{incident_id}/transitions"]'))
    transition.locator(".opblock-summary").first.click()
    responses = transition.locator(".responses-table").first
    responses.wait_for(timeout=10_000)
    text = responses.inner_text()
    assert "invalid_transition" in text and "incident_not_found" in text

    assert blocked == [], "the docs page tried to reach outside the app"
    assert failed == []
    assert console_errors == []
    page.close()
