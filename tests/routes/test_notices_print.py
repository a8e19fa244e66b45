"""The printable notice in a real browser (Debian's Chromium driven by Playwright): every
section is on the page, the print CSS is A4 with body text of at least 14 pt, a page footer
and a QR code, and no resident's name, room or phone (nor the secretary's private phone)
is anywhere in what the page shows."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app import timeutil
from app.extensions import db
from app.models import User
from app.services.notices import weeks
from tests.helpers import in_app, serving

PHONES = {"demo-resident": "13800001111", "demo-resident-2": "13800002222",
          "demo-party-member": "13800003333", "demo-secretary": "13900009999"}


@pytest.fixture
def published(app, client, world, people, week_data):
    def phones():
        for openid, phone in PHONES.items():
            db.session.scalar(sa.select(User).where(User.openid == openid)).phone = phone
        db.session.commit()
    in_app(app, phones)
    year, week = weeks.last_week()
    week_data(timeutil.week_bounds(year, week)[0])
    hq = world["compounds"]["虹桥小区"]
    secretary = people["demo-secretary"]
    client.put(f"/api/v1/compounds/{hq}/notice-settings", headers=secretary,
               json={"station_address": "虹桥小区党群服务站", "station_hours": "每天 8:30-17:30"})
    draft = client.post("/api/v1/notices/drafts", json={"compound_id": hq},
                        headers=secretary).get_json()
    client.put(f"/api/v1/notices/{draft['id']}", headers=secretary,
               json={"sections": {"next_week": "周六上午 义诊进小区", "visits": "本周走访独居老人"}})
    response = client.post(f"/api/v1/notices/{draft['id']}/publish", headers=secretary)
    assert response.status_code == 200, response.get_json()
    return draft["id"]


def test_the_print_page_in_chromium(app, published, browser):
    with serving(app) as url:
        page = browser.new_page()
        response = page.goto(f"{url}/notices/{published}/print")
        assert response.status == 200
        text = page.inner_text("body")
        font_px = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
        has_qr = page.locator(".qr svg").count()
        footer = page.inner_text("footer.page-footer")
        page.emulate_media(media="print")
        position = page.evaluate(
            "getComputedStyle(document.querySelector('footer.page-footer')).position")
        pdf = page.pdf(format="A4")
        page.close()
    for heading in ("书记公开", "走访情况", "随手拍办理", "微心愿", "社区食堂", "双报到服务", "下周活动"):
        assert heading in text, heading
    assert "虹桥小区" in text and "周书记" in text and "虹桥小区党群服务站" in text
    assert "本周受理" in text and "7" in text and "少于3" in text
    assert "周六上午 义诊进小区" in text and "本周走访独居老人" in text
    assert "环境卫生" in text  # an open incident listed with its progress
    for secret in (*PHONES.values(), "13812345678", "张三", "张阿姨", "李师傅", "刘党员",
                   "1单元", "邻里纠纷"):
        assert secret not in text, secret
    assert font_px >= 14 * 96 / 72 - 0.01  # 14 pt
    assert has_qr == 1 and "第1版" in footer and position == "fixed"
    assert pdf.startswith(b"%PDF")


def test_the_print_page_is_html_with_print_css(app, client, published):
    response = client.get(f"/notices/{published}/print")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "size: A4" in html and "font-size: 14pt" in html and "@media print" in html
    assert f"/notices/{published}/print" in html  # the QR code's online address
    for secret in PHONES.values():
        assert secret not in html
    assert client.get("/notices/99999/print").status_code == 404


def test_a_superseded_notice_prints_with_a_banner(app, client, people, published):
    secretary = people["demo-secretary"]
    correction = client.post(f"/api/v1/notices/{published}/corrections", headers=secretary,
                             json={"note": "更正书记走访户数"}).get_json()
    client.post(f"/api/v1/notices/{correction['id']}/publish", headers=secretary)
    old = client.get(f"/notices/{published}/print").get_data(as_text=True)
    new = client.get(f"/notices/{correction['id']}/print").get_data(as_text=True)
    assert "本公示已被更正" in old
    assert "更正说明：更正书记走访户数" in new and "第2版" in new
