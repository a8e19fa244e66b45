"""An import with errors, then fixed, in real Chromium: sign in through the QR flow, upload a
households sheet with two bad rows, read the errors on the page, download the error
workbook, fix it and commit."""
from __future__ import annotations

import openpyxl
import sqlalchemy as sa

from app.extensions import db
from app.models import Household, HouseholdTag
from app.services import spreadsheets
from app.services.spreadsheets import Sheet
from tests.console.test_browser import sign_in
from tests.helpers import in_app

HH = ["小区", "楼栋", "单元", "房号", "户主姓名", "户主电话", "关爱标签"]


def heads(app) -> dict:
    """(building id, unit, room) -> (head, phone) of every household."""
    return in_app(app, lambda: {(r.building_id, r.unit, r.room): (r.head_name, r.head_phone)
                                for r in db.session.scalars(sa.select(Household))})


def test_import_with_errors_then_fixed_in_chromium(app, browser, app_url, people, world,
                                                   tmp_path):
    rows = [["虹桥小区", "1号楼", "1", "101", "张大爷", "13800001111", "独居老人"],
            ["虹桥小区", "1号楼", "1", "201", "李师傅", "不是电话", None],
            ["远方小区", "1号楼", "1", "101", "越界", None, None],
            ["虹桥小区", "2号楼", "2", "102", "王奶奶", None, "空巢老人；困难家庭"]]
    bad = tmp_path / "住户名册.xlsx"
    bad.write_bytes(spreadsheets.workbook_bytes([Sheet("住户名册", HH, rows)]))
    before = heads(app)

    watched = sign_in(browser, app_url, people["demo-staff"])
    page = watched.page
    page.goto(app_url + "/console/excel")
    page.click('tr[data-kind="households"] >> text=导入')
    page.wait_for_url(app_url + "/console/imports/households")
    page.set_input_files("#upload-form input[type=file]", str(bad))
    page.click("#dry-run")
    report = page.locator("#import-report")
    report.wait_for(timeout=10_000)
    assert report.get_attribute("data-errors") == "2"
    errors = [page.locator("tr.import-error").nth(i).inner_text().split("\t")
              for i in range(page.locator("tr.import-error").count())]
    assert [(e[0], e[1]) for e in errors] == [("3", "户主电话"), ("4", "楼栋")]
    assert "本社区没有" in errors[1][2]
    assert page.locator("#commit").count() == 0  # nothing to commit while rows are bad

    with page.expect_download() as download:
        page.click("#error-workbook")
    saved = tmp_path / "errors.xlsx"
    download.value.save_as(saved)
    book = openpyxl.load_workbook(saved)
    sheet = book.active
    assert [c.value for c in sheet[1]] == HH + ["错误"]
    assert sheet["H2"].value.startswith("户主电话：") and sheet["H3"].value.startswith("楼栋：")
    # Fix: the phone corrected, the other community's row deleted; 错误 left as it is.
    sheet["F2"] = "13900002222"
    sheet.delete_rows(3)
    fixed = tmp_path / "fixed.xlsx"
    book.save(fixed)
    assert heads(app) == before  # the dry run wrote nothing

    page.set_input_files("#upload-form input[type=file]", str(fixed))
    page.click("#dry-run")
    page.wait_for_selector('#import-report[data-errors="0"]', timeout=10_000)
    assert page.locator("#import-report").get_attribute("data-updated") == "3"
    page.click("#commit")
    page.wait_for_selector(".flash.ok", timeout=10_000)
    assert "更新 3 条" in page.locator(".flash.ok").inner_text()
    after = heads(app)
    first = world["buildings"][("虹桥小区", "1号楼")]
    assert after[(first, "1", "101")] == ("张大爷", "13800001111")
    assert after[(first, "1", "201")] == ("李师傅", "13900002222")
    changed = {key for key in after if after[key] != before[key]}
    assert changed == {(first, "1", "101"), (first, "1", "201"),
                       (world["buildings"][("虹桥小区", "2号楼")], "2", "102")}
    tags = in_app(app, lambda: db.session.execute(sa.select(sa.func.count()).select_from(
        HouseholdTag)).scalar())
    assert tags == 3
    assert watched.clean(), (watched.blocked, watched.errors)
