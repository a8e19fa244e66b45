"""数字看板 in real Chromium (Debian's, through Playwright) on a network that reaches only
the app: every chart drawn by the vendored Chart.js, the SVG map of open incidents, the
filter swapping the body in place (htmx), no browser error; a PNG screenshot of the full
page is saved in the test's own output directory (pytest's `tmp_path`)."""
from __future__ import annotations

from app.models import IncidentStatus
from tests.console.test_browser import sign_in

S = IncidentStatus


def test_dashboard_in_chromium_with_its_screenshot(browser, app_url, people, world,
                                                   make_incident, wish_post, tmp_path):
    for building in (("虹桥小区", "1号楼"), ("虹桥小区", "1号楼"), ("虹桥小区", "2号楼"),
                     ("盛世华城", "3号楼")):
        make_incident(building=building)
    make_incident(status=S.CLOSED, category="facility")
    wish_post("demo-resident")
    watched = sign_in(browser, app_url, people["demo-staff"])
    page = watched.page
    page.wait_for_selector("#points canvas[data-drawn='1']", timeout=15_000)
    canvases = page.locator("canvas[data-chart]")
    assert canvases.count() == 7
    assert page.locator("canvas[data-drawn='1']").count() == canvases.count()
    for n in range(canvases.count()):  # drawn, not blank boxes
        box = canvases.nth(n).bounding_box()
        assert box and box["width"] > 50 and box["height"] > 50
    assert page.locator('#incidents [data-k="total"]').inner_text() == "5"
    assert page.locator('#incidents [data-k="open"]').inner_text() == "4"
    circles = page.locator("#map svg circle.building")
    assert circles.count() == 3  # three buildings with open incidents
    assert page.locator("#map tr.building-row").count() == 3
    assert "虹桥小区" in circles.first.locator("title").text_content()

    shot = tmp_path / "console-dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    print(f"dashboard screenshot: {shot}")

    # The filter swaps the body in place (htmx) and the charts are drawn again.
    hongqiao = world["compounds"]["虹桥小区"]
    page.select_option("select[name=scope]", f"compound:{hongqiao}")
    page.click("#dashboard-filter button")
    page.wait_for_selector(f'[data-scope="compound:{hongqiao}"]', timeout=10_000)
    page.wait_for_selector("#points canvas[data-drawn='1']", timeout=10_000)
    assert page.locator('#incidents [data-k="total"]').inner_text() == "4"
    assert page.locator("#map svg circle.building").count() == 2
    assert f"scope=compound%3A{hongqiao}" in page.url or f"scope=compound:{hongqiao}" in page.url
    assert watched.clean(), (watched.blocked, watched.errors)
    watched.context.close()


def test_a_grid_worker_sees_their_grid_only_in_chromium(browser, app_url, people, world):
    watched = sign_in(browser, app_url, people["demo-grid-worker"])
    page = watched.page
    options = page.locator("select[name=scope] option")
    assert options.count() == 1
    assert options.first.get_attribute("value") == f"grid:{world['grids'][0]}"
    assert "无权查看随手拍统计" in page.locator("#incidents").inner_text()
    page.wait_for_selector("#wishes canvas[data-drawn='1']", timeout=15_000)
    assert watched.clean(), (watched.blocked, watched.errors)
    watched.context.close()
