"""Excel in the console and the catalog's API, over HTTP: upload -> dry-run report -> commit
(CSRF, audited), the error workbook, exports of every list with Chinese headers and the
role's columns, a big export as a job whose file only its owner downloads, and the
catalog's import and export through /api/v1/guides."""
from __future__ import annotations

import io
import re
from datetime import date

import openpyxl
import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    ConsoleAudit,
    GuideEntry,
    Household,
    HouseholdTag,
    IncidentStatus,
    Notification,
    User,
)
from app.services import spreadsheets
from app.services.excel import exports
from app.services.spreadsheets import Sheet
from tests.helpers import in_app

HH = ["小区", "楼栋", "单元", "房号", "户主姓名", "户主电话", "关爱标签"]
TOKEN = re.compile(r"/console/imports/households/([A-Za-z0-9_-]{22})/")


def xlsx(header, rows) -> bytes:
    return spreadsheets.workbook_bytes([Sheet("s", header, rows)])


def sheet_of(data: bytes) -> list[list]:
    return [list(r) for r in openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows(
        values_only=True)]


def upload(browser, csrf, data: bytes, kind="households"):
    return browser.post(f"/console/imports/{kind}", data={
        "csrf_token": csrf, "file": (io.BytesIO(data), "住户.xlsx")},
        content_type="multipart/form-data")


def households(app):
    return in_app(app, lambda: [tuple(r) for r in db.session.execute(
        sa.select(Household.id, Household.head_name, Household.head_phone)
        .order_by(Household.id))])


def test_upload_dry_run_errors_then_fixed_and_committed(app, console_login, csrf_of):
    browser = console_login("demo-staff")
    csrf = csrf_of(browser, "/console/imports/households")
    template = browser.get("/console/imports/households/template.xlsx")
    assert template.status_code == 200 and template.mimetype == spreadsheets.MIMETYPE
    assert sheet_of(template.data)[0] == HH
    rows = [["虹桥小区", "1号楼", "1", "101", "张大爷", "13800001111", "独居老人"],
            ["远方小区", "1号楼", "1", "101", "越界", None, None],
            ["虹桥小区", "1号楼", "1", "201", "李师傅", "电话", None]]
    before = households(app)
    page = upload(browser, csrf, xlsx(HH, rows))
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert 'data-errors="2"' in page.text and 'id="commit"' not in page.text
    assert re.search(r'<td class="n">3</td><td>楼栋</td><td>本社区没有“远方小区 1号楼”</td>',
                     page.text)
    assert re.search(r'<td class="n">4</td><td>户主电话</td><td>电话号码格式不正确</td>', page.text)
    token = TOKEN.search(page.text).group(1)
    errors = browser.get(f"/console/imports/households/{token}/errors.xlsx")
    assert errors.status_code == 200
    sheet = sheet_of(errors.data)
    assert sheet[0] == HH + ["错误"] and sheet[1][-1].startswith("楼栋：")
    # Another staff member cannot read or commit this upload (the key holds its uploader).
    other = console_login("demo-admin")
    assert other.get(f"/console/imports/households/{token}/errors.xlsx").status_code == 404
    assert households(app) == before
    # Fixed: the error workbook itself, corrected, with the 错误 column left in.
    fixed = [row for row in sheet[1:] if row[0] != "远方小区"]
    for row in fixed:
        if row[3] == "201":
            row[5] = "13900002222"
    page = upload(browser, csrf, xlsx(sheet[0], fixed))
    assert 'data-errors="0"' in page.text and 'data-updated="2"' in page.text
    token = TOKEN.search(page.text).group(1)
    assert households(app) == before  # the dry run wrote nothing
    no_csrf = browser.post(f"/console/imports/households/{token}/commit")
    assert no_csrf.status_code == 400 and households(app) == before
    done = browser.post(f"/console/imports/households/{token}/commit",
                        data={"csrf_token": csrf})
    assert done.status_code == 200 and 'data-updated="2"' in done.text
    assert "导入完成：新增 0 条，更新 2 条" in done.text
    after = {r[0]: r[1:] for r in households(app)}
    assert ("张大爷", "13800001111") in after.values() and ("李师傅", "13900002222") in after.values()
    audit = in_app(app, lambda: db.session.scalar(sa.select(ConsoleAudit.after).where(
        ConsoleAudit.action == "import_households")))
    assert audit["updated"] == 2 and audit["created"] == 0
    changed = {tuple(c["key"]): (c["before"]["head_phone"], c["after"]["head_phone"])
               for c in audit["changes"]}
    assert changed[("虹桥小区", "1号楼", "1", "201")] == (None, "13900002222")
    # The token is spent.
    again = browser.post(f"/console/imports/households/{token}/commit", data={"csrf_token": csrf})
    assert again.status_code == 404


def test_a_hostile_upload_is_a_flashed_chinese_error(app, console_login, csrf_of):
    browser = console_login("demo-staff")
    csrf = csrf_of(browser, "/console/imports/households")
    page = browser.post("/console/imports/households", data={
        "csrf_token": csrf, "file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")},
        content_type="multipart/form-data", headers={"Referer": "http://localhost/console/imports/households"},
        follow_redirects=True)
    assert page.status_code == 200 and "请上传 .xlsx 格式的 Excel 文件" in page.text
    assert page.mimetype == "text/html"


def test_roles_without_the_right_get_html_403(console_login):
    for openid in ("demo-department", "demo-canteen"):
        page = console_login(openid).get("/console/imports/households")
        assert page.status_code == 403 and page.mimetype == "text/html", openid
    assert console_login("demo-staff").get("/console/imports/nothing").status_code == 404
    page = console_login("demo-secretary").get("/console/exports/guides.xlsx")
    assert page.status_code == 403 and "无权" in page.text


def test_every_list_exports_with_chinese_headers(app, console_login, make_incident, wish_post,
                                                  world):
    make_incident()
    make_incident(status=IncidentStatus.CLOSED)
    wish_post("demo-resident")
    browser = console_login("demo-staff")
    first = {"incidents": "编号", "wishes": "编号", "households": "小区", "users": "用户编号",
             "party": "用户编号", "buildings": "小区", "guides": "标题", "menus": "食堂",
             "bookings": "日期"}
    for kind, header in first.items():
        response = browser.get(f"/console/exports/{kind}.xlsx")
        assert response.status_code == 200, (kind, response.text[:300])
        assert response.mimetype == spreadsheets.MIMETYPE
        assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
        assert sheet_of(response.data)[0][0] == header, kind
    incidents = sheet_of(browser.get("/console/exports/incidents.xlsx").data)
    assert len(incidents) == 3 and incidents[0][:6] == ["编号", "小区", "楼栋", "类别", "内容", "状态"]
    closed = sheet_of(browser.get("/console/exports/incidents.xlsx?status=closed").data)
    assert len(closed) == 2 and closed[1][5] == "已关闭"
    bad = browser.get("/console/exports/incidents.xlsx?status=nonsense")
    assert bad.status_code == 422 and "筛选条件无效" in bad.text
    # A secretary's export holds only their compound.
    secretary = sheet_of(console_login("demo-secretary-2").get(
        "/console/exports/incidents.xlsx").data)
    assert len(secretary) == 1
    # Times in Asia/Shanghai: the export's 上报时间 is the local wall-clock time.
    from app import timeutil
    from app.models import Incident
    created = in_app(app, lambda: db.session.scalar(
        sa.select(Incident.created_at).order_by(Incident.id.desc()).limit(1)))
    local = timeutil.local(created).replace(tzinfo=None)
    assert incidents[1][9] == local.replace(microsecond=local.microsecond // 1000 * 1000) \
        or abs((incidents[1][9] - local).total_seconds()) < 0.001


def test_care_tags_and_phones_follow_the_role_in_exports(app, console_login, world):
    def seed():
        household = db.session.scalar(sa.select(Household).order_by(Household.id))
        household.head_name, household.head_phone = "张大爷", "13800001111"
        db.session.add(HouseholdTag(household_id=household.id, tag="living_alone"))
        db.session.commit()
    in_app(app, seed)
    staff = sheet_of(console_login("demo-staff").get("/console/exports/households.xlsx").data)
    kitchen = sheet_of(console_login("demo-canteen").get("/console/exports/households.xlsx").data)
    assert staff[0] == HH and ["虹桥小区", "1号楼", "1", "101", "张大爷", "13800001111",
                              "独居老人"] in staff
    assert "关爱标签" not in kitchen[0] and ["虹桥小区", "1号楼", "1", "101", "张大爷",
                                          "138****1111"] in kitchen


def test_a_big_export_arrives_in_the_inbox_for_its_owner_only(app, console_login, csrf_of,
                                                               client, people):
    app.config["EXPORT_SYNC_MAX_ROWS"] = 5
    try:
        browser = console_login("demo-staff")
        page = browser.get("/console/exports/households.xlsx?compound_id=1")
        assert page.status_code == 200 and page.mimetype == "text/html"
        assert 'id="queue-export"' in page.text and 'name="compound_id" value="1"' in page.text
        csrf = csrf_of(browser, "/console/excel")
        queued = browser.post("/console/exports/households/jobs",
                              data={"csrf_token": csrf, "compound_id": "1"})
        assert queued.status_code == 302
        from app.jobs import excel as job
        assert in_app(app, job.run) == {"done": 1, "failed": 0}
    finally:
        app.config.pop("EXPORT_SYNC_MAX_ROWS")
    note = in_app(app, lambda: db.session.scalar(sa.select(Notification).where(
        Notification.template_key == "export_ready")))
    staff_id = in_app(app, lambda: db.session.scalar(sa.select(User.id).where(
        User.openid == "demo-staff")))
    assert note.user_id == staff_id and note.payload["rows"] == 24  # 虹桥小区's households
    link = note.payload["link"]
    inbox = client.get("/api/v1/inbox", headers=people["demo-staff"]).get_json()
    assert any(link in (item.get("text") or "") for item in inbox["items"]), inbox
    listing = browser.get("/console/excel")
    assert link in listing.text
    mine = browser.get(link)
    assert mine.status_code == 200 and len(sheet_of(mine.data)) == 25
    for openid in ("demo-admin", "demo-secretary"):
        assert console_login(openid).get(link).status_code == 404, openid
    # The route checks the session, not the link: signed out, it is the sign-in page.
    assert app.test_client().get(link).status_code == 302


# --- the catalog through the API ----------------------------------------------------------

def test_catalog_export_import_round_trip_over_the_api(app, client, people, world):
    headers = people["demo-staff"]
    made = client.post("/api/v1/guides", headers=headers, json={
        "title": "老年证办理", "synonyms": ["老年证怎么办"], "answer": "带身份证和照片",
        "updated_on": "2026-05-01"})
    assert made.status_code == 201, made.get_json()
    exported = client.get("/api/v1/guides.xlsx", headers=headers)
    assert exported.status_code == 200

    def post(data: bytes, dry_run: bool, who=headers):
        return client.post(f"/api/v1/guides/import?dry_run={int(dry_run)}", headers=who,
                           data={"file": (io.BytesIO(data), "guides.xlsx")},
                           content_type="multipart/form-data")
    checked = post(exported.data, True)
    assert checked.status_code == 200
    assert checked.get_json() == {"kind": "guides", "dry_run": True, "created": 0, "updated": 0,
                                  "unchanged": 1, "errors": []}
    sheet = sheet_of(exported.data)
    new = ["居住证", "居住证怎么办；办居住证", "到派出所办理", None, None, None, None,
           date(2026, 6, 1), "在用"]
    bad = ["x", None, None, None, None, None, None, None, "在用"]
    data = xlsx(sheet[0], sheet[1:] + [new, bad])
    refused = post(data, False)
    body = refused.get_json()
    assert refused.status_code == 422 and body["code"] == "import_invalid"
    assert {(e["row"], e["column"]) for e in body["errors"]["errors"]} == {(4, "答复")}
    titles = lambda: in_app(app, lambda: db.session.scalars(  # noqa: E731
        sa.select(GuideEntry.title).order_by(GuideEntry.id)).all())
    assert titles() == ["老年证办理"]
    good = xlsx(sheet[0], sheet[1:] + [new])
    assert post(good, True).get_json()["created"] == 1 and titles() == ["老年证办理"]
    done = post(good, False).get_json()
    assert (done["created"], done["updated"], done["unchanged"]) == (1, 0, 1)
    assert titles() == ["老年证办理", "居住证"]
    again = post(good, False).get_json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    # The bot answers from the imported entry at once (the matcher's cache was dropped).
    match = client.get("/api/v1/guides/match?q=居住证怎么办", headers=headers).get_json()
    assert "居住证" in str(match)
    for openid in ("demo-resident", "demo-secretary", "demo-canteen"):
        assert post(good, True, people[openid]).status_code == 403, openid
    hostile = post(b"not a workbook", True)
    assert hostile.status_code == 422 and hostile.get_json()["code"] == "invalid_spreadsheet"
    assert "xlsx" in hostile.get_json()["message"]


@pytest.fixture(autouse=True)
def _no_leftover_config(app):
    yield
    for name in ("EXPORT_SYNC_MAX_ROWS", "IMPORT_MAX_BYTES"):
        app.config.pop(name, None)


def test_export_download_ids_are_not_guessable_across_users(app, world):
    def work():
        staff = db.session.scalar(sa.select(User).where(User.openid == "demo-staff"))
        job = exports.queue(staff, "buildings", {})
        exports.run_pending()
        return job.id
    job_id = in_app(app, work)
    key = in_app(app, lambda: db.session.execute(sa.text(
        "SELECT storage_key FROM export_jobs WHERE id = :i"), {"i": job_id}).scalar())
    assert re.fullmatch(rf"exports/{job_id}-[0-9a-f]{{32}}\.xlsx", key)


def test_list_pages_link_their_exports_and_imports(console_login, world):
    browser = console_login("demo-staff")
    compound = world["compounds"]["虹桥小区"]
    pages = {"/console/org": "buildings", "/console/party": "party", "/console/people": "users",
             "/console/guides": "guides",
             f"/console/org/compounds/{compound}/households": "households"}
    for path, kind in pages.items():
        page = browser.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        assert f'href="/console/exports/{kind}.xlsx' in page.text, path
        assert (f'href="/console/imports/{kind}"' in page.text) == (kind != "users"), path
    households = browser.get(f"/console/org/compounds/{compound}/households").text
    link = re.search(r'href="(/console/exports/households\.xlsx[^"]*)"', households).group(1)
    sheet = sheet_of(browser.get(link.replace("&amp;", "&")).data)
    assert len(sheet) == 25 and {row[0] for row in sheet[1:]} == {"虹桥小区"}
