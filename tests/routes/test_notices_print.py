"""The printable notice in a real browser (Debian's Chromium driven by Playwright): every
section is on the page, the print CSS is A4 with body text of at least 14 pt, a page footer
and a QR code, and no resident's name, room or phone (nor the secretary's private phone)
is anywhere in what the page shows; a screenshot of it is saved under the test's output
(notice-print.png, for the console issue's record). The PDF (WeasyPrint) is a real A4 PDF
whose extracted text (pypdf) holds every section and no phone; it is skipped only where no
font covers Chinese, and without one the route answers 503 in the envelope."""
from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from app import timeutil
from app.extensions import db
from app.models import User
from app.services.notices import printing, weeks
from tests.helpers import in_app, serving

SECTIONS = ("书记公开", "走访情况", "随手拍办理", "微心愿", "社区食堂", "双报到服务", "下周活动")
SECRETS = ("13812345678", "张三", "张阿姨", "李师傅", "刘党员", "1单元", "邻里纠纷")
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


def test_the_print_page_in_chromium(app, published, browser, tmp_path):
    with serving(app) as url:
        page = browser.new_page(viewport={"width": 794, "height": 1123})  # A4 at 96 dpi
        response = page.goto(f"{url}/notices/{published}/print")
        assert response.status == 200
        text = page.inner_text("body")
        font_px = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
        has_qr = page.locator(".qr svg").count()
        footer = page.inner_text("footer.page-footer")
        shot = tmp_path / "notice-print.png"  # as on screen: in print media the fixed
        page.screenshot(path=str(shot), full_page=True)  # footer repeats on every page
        page.emulate_media(media="print")
        position = page.evaluate(
            "getComputedStyle(document.querySelector('footer.page-footer')).position")
        pdf = page.pdf(format="A4")
        page.close()
    print(f"screenshot: {shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    for heading in SECTIONS:
        assert heading in text, heading
    assert "虹桥小区" in text and "周书记" in text and "虹桥小区党群服务站" in text
    assert "本周受理" in text and "7" in text and "少于3" in text
    assert "周六上午 义诊进小区" in text and "本周走访独居老人" in text
    assert "环境卫生" in text  # an open incident listed with its progress
    for secret in (*PHONES.values(), *SECRETS):
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


def _pdf_text(data: bytes) -> tuple[str, list]:
    pypdf = pytest.importorskip("pypdf", reason="pypdf is not installed (requirements-dev.txt)")
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(p.extract_text() for p in reader.pages), list(reader.pages)


def test_the_pdf_is_the_print_page(app, client, published):
    if not printing.cjk_font():
        pytest.skip("no font covers Chinese here (fc-list :lang=zh is empty): apt-get install "
                    "fonts-wqy-microhei (.ci/run and make run do)")
    response = client.get(f"/notices/{published}/print.pdf")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF-")
    assert f"notice-{published}.pdf" in response.headers["Content-Disposition"]
    text, pages = _pdf_text(response.data)
    box = pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4 in pt
    flat = "".join(text.split())  # the PDF's text runs break lines where the page does
    for heading in SECTIONS:
        assert heading in flat, heading
    assert "虹桥小区党群服务站" in flat and "周书记" in flat and "本周受理" in flat
    assert "周六上午义诊进小区" in flat and "少于3" in flat and "环境卫生" in flat
    assert "第1页" in flat and "第1版" in flat  # the page footer
    for secret in (*PHONES.values(), *SECRETS):
        assert secret not in flat, secret
    # WeasyPrint's import turns on Pillow's LOAD_TRUNCATED_IMAGES for the whole process;
    # uploads refuse truncated images, so the flag must be off again.
    from PIL import ImageFile
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_without_a_chinese_font_the_pdf_is_503(app, client, published, tmp_path, monkeypatch):
    """fontconfig pointed at a configuration with no font directories: the route says so
    in the envelope instead of drawing empty boxes; the HTML page still prints."""
    conf = tmp_path / "fonts.conf"
    conf.write_text('<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n'
                    f"<fontconfig><cachedir>{tmp_path / 'fc-cache'}</cachedir></fontconfig>\n")
    monkeypatch.setenv("FONTCONFIG_FILE", str(conf))
    printing._has_cjk_font.cache_clear()
    try:
        response = client.get(f"/notices/{published}/print.pdf")
    finally:
        monkeypatch.undo()
        printing._has_cjk_font.cache_clear()
    assert response.status_code == 503
    body = response.get_json()
    assert body["code"] == "pdf_unavailable" and "中文字体" in body["message"]
    assert client.get(f"/notices/{published}/print").status_code == 200
    assert client.get("/notices/99999/print.pdf").status_code == 404
