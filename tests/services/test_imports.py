"""Excel import and export (app.services.excel) against the real database: every kind
round-trips (export -> import -> nothing changes), a dry run names every bad row, a commit is
all or nothing, the same file twice changes nothing, scope and private columns follow the
roles, hostile files are refused, and a big export runs as a job for its owner only."""
from __future__ import annotations

import io
import zipfile
from datetime import date, time, timedelta

import openpyxl
import pytest
import sqlalchemy as sa

from app.errors import Forbidden, ValidationFailed
from app.extensions import db
from app.models import (
    Building,
    CareTag,
    Community,
    Compound,
    ExportJob,
    Grid,
    GuideEntry,
    Household,
    HouseholdTag,
    Meal,
    MealKind,
    Notification,
    PartyRegistration,
    RegistrationStatus,
    Role,
    RoleGrant,
    ScopeKind,
    User,
)
from app.services import spreadsheets
from app.services.excel import exports, kinds, reading, registry, workbooks
from app.services.spreadsheets import Sheet
from tests.fixtures.canteen import DAY, make_canteen, make_meal


def user(openid: str) -> User:
    return db.session.scalar(sa.select(User).where(User.openid == openid))


def xlsx(header, rows) -> bytes:
    return spreadsheets.workbook_bytes([Sheet("s", header, rows)])


def read(data: bytes) -> list[list]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [list(r) for r in book.active.iter_rows(values_only=True)]


def exported(openid: str, kind: str, filters: dict | None = None) -> bytes:
    data, _name, _fallback = exports.export(user(openid), kind, filters or {})
    db.session.rollback()
    return data


def run(openid: str, kind: str, data: bytes, commit: bool = True, filters=None):
    return kinds.run(registry.get(kind, importing=True), user(openid), data, filters or {},
                     commit=commit)


def counts(report) -> tuple:
    return report.created, report.updated, report.unchanged, len(report.errors)


def snapshot(model) -> list:
    db.session.expire_all()
    return [tuple(r) for r in db.session.execute(sa.select(*model.__table__.c)
                                                 .order_by(*model.__table__.primary_key))]


@pytest.fixture
def roster(ctx, world):
    """Heads, phones and care tags on 虹桥小区 1号楼's first households."""
    building = world["buildings"][("虹桥小区", "1号楼")]
    rows = db.session.scalars(sa.select(Household).where(Household.building_id == building)
                              .order_by(Household.id).limit(3)).all()
    rows[0].head_name, rows[0].head_phone = "张大爷", "13800001111"
    rows[1].head_name = "=HYPERLINK(\"http://evil\",\"点我\")"
    db.session.add(HouseholdTag(household_id=rows[0].id, tag=CareTag.LIVING_ALONE))
    db.session.add(HouseholdTag(household_id=rows[0].id, tag=CareTag.HARDSHIP))
    db.session.commit()
    return [r.id for r in rows]


HH = ["小区", "楼栋", "单元", "房号", "户主姓名", "户主电话", "关爱标签"]


# --- round trips --------------------------------------------------------------------------

def test_households_round_trip_and_the_same_file_twice(roster):
    data = exported("demo-staff", "households")
    sheet = read(data)
    assert sheet[0] == HH
    assert ["虹桥小区", "1号楼", "1", "101", "张大爷", "13800001111", "困难家庭；独居老人"] in sheet
    assert len(sheet) == 1 + 42
    before = snapshot(Household), snapshot(HouseholdTag)
    assert counts(run("demo-staff", "households", data)) == (0, 0, 42, 0)
    assert (snapshot(Household), snapshot(HouseholdTag)) == before
    # A new household, a changed phone and tags: then the same file again changes nothing.
    sheet[1][5], sheet[1][6] = "13900002222", "空巢老人"
    changed = xlsx(HH, sheet[1:] + [["虹桥小区", "2号楼", "3", "999", "新户", None, None]])
    assert counts(run("demo-staff", "households", changed)) == (1, 1, 41, 0)
    after = snapshot(Household), snapshot(HouseholdTag)
    assert counts(run("demo-staff", "households", changed)) == (0, 0, 43, 0)
    assert (snapshot(Household), snapshot(HouseholdTag)) == after
    tags = db.session.scalars(sa.select(HouseholdTag.tag).where(
        HouseholdTag.household_id == roster[0])).all()
    assert tags == [CareTag.EMPTY_NEST]


def test_buildings_guides_party_round_trip(ctx, world):
    db.session.add(GuideEntry(community_id=world["community"], title="低保申请",
                              synonyms=["怎么办低保", "低保"], answer="带身份证到社区",
                              materials="身份证；户口本", updated_on=date(2026, 3, 1),
                              created_by_id=world["users"]["demo-staff"]))
    db.session.commit()
    member = world["users"]["demo-party-member"]
    db.session.add(PartyRegistration(user_id=member, community_id=world["community"],
                                     employer="县人社局", skills="=1+2",
                                     status=RegistrationStatus.CONFIRMED))
    db.session.commit()
    for kind, model, rows in (("buildings", Building, 6), ("guides", GuideEntry, 1),
                              ("party", PartyRegistration, 1)):
        data = exported("demo-staff", kind)
        assert len(read(data)) == rows + 1, kind
        before = snapshot(model)
        assert counts(run("demo-staff", kind, data)) == (0, 0, rows, 0), kind
        assert snapshot(model) == before, kind
    # The guides' export over the API route's header is the same sheet.
    assert read(exported("demo-staff", "guides"))[0][:3] == ["标题", "同义问法", "答复"]


def test_menus_round_trip_and_a_new_week(app, ctx, world, clock):
    canteen = make_canteen(app, world["community"])
    make_meal(app, canteen, day=DAY + timedelta(days=1), cutoff=(10, 0))
    data = exported("demo-canteen", "menus", {"week": DAY})
    sheet = read(data)
    assert sheet[0][:4] == ["食堂", "日期", "餐次", "菜品"]
    assert sheet[1][2:6] == ["午餐", "红烧肉；清炒时蔬；米饭", 50, 15]
    before = snapshot(Meal)
    assert counts(run("demo-canteen", "menus", data)) == (0, 0, 1, 0)
    assert snapshot(Meal) == before
    # Next week's dinner as a new row: created as a draft through create_meal.
    row = list(sheet[1])
    row[1], row[2], row[8], row[9] = DAY + timedelta(days=8), "晚餐", "17:00", "18:30"
    row[7] = "15:00"
    two = xlsx(sheet[0], [sheet[1], row])
    assert counts(run("demo-canteen", "menus", two)) == (1, 0, 1, 0)
    meal = db.session.scalar(sa.select(Meal).where(Meal.kind == MealKind.DINNER))
    assert meal.day == DAY + timedelta(days=8) and meal.price_fen == 1500
    assert counts(run("demo-canteen", "menus", two)) == (0, 0, 2, 0)


def test_a_menu_row_the_service_refuses_is_that_rows_error(app, ctx, world, clock):
    canteen = make_canteen(app, world["community"])
    header = [c.header for c in registry.get("menus").columns(
        registry.get("menus").context(user("demo-canteen"), {}, True)) if not c.readonly]
    past = ["示范社区长者食堂", DAY - timedelta(days=1), "午餐", "面条", 10, 8, None, "10:00",
            "11:00", "12:00"]
    bad_window = ["示范社区长者食堂", DAY + timedelta(days=2), "午餐", "面条", 10, 8, None,
                  "10:00", "12:00", "11:00"]
    report = run("demo-canteen", "menus", xlsx(header, [past, bad_window]), commit=False)
    assert [(e.row, e.column) for e in report.errors] == [(2, "日期"), (3, "取餐结束")]
    assert "过去" in report.errors[0].message
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Meal)) == 0
    assert canteen


# --- dry run, all or nothing --------------------------------------------------------------

def test_dry_run_lists_every_bad_row_and_writes_nothing(roster):
    rows = [
        ["虹桥小区", "1号楼", "1", "101", "张大爷", "13800001111", "独居老人"],  # fine
        ["虹桥小区", "9号楼", "1", "101", "无楼", None, None],  # no such building
        ["虹桥小区", "1号楼", None, "102", "缺单元", None, None],  # required
        ["虹桥小区", "1号楼", "1", "103", "坏标签", None, "富裕家庭"],  # not a tag
        ["虹桥小区", "1号楼", "1", "104", "x" * 40, "abc", None],  # too long
        ["虹桥小区", "1号楼", "1", "101", "重复", None, None],  # the first row's key again
        ["虹桥小区", "1号楼", "1", "105", "控制\x9f字符", None, None],
    ]
    before = snapshot(Household), snapshot(HouseholdTag)
    report = run("demo-staff", "households", xlsx(HH, rows), commit=False)
    found = [(e.row, e.column) for e in report.errors]
    assert found == [(3, "楼栋"), (4, "单元"), (5, "关爱标签"), (6, "户主姓名"),
                     (7, "小区、楼栋、单元、房号"), (8, "户主姓名")]
    messages = {e.row: e.message for e in report.errors}
    assert "9号楼" in messages[3] and messages[4] == "此项为必填项"
    assert "富裕家庭" in messages[5] and "32" in messages[6] and "第 2 行" in messages[7]
    assert "控制字符" in messages[8]
    assert report.updated == 1  # the good row would change its tags
    assert (snapshot(Household), snapshot(HouseholdTag)) == before
    # The error workbook: the bad rows first, each with its messages in 错误.
    sheet = read(workbooks.error_bytes(report))
    assert sheet[0] == HH + ["错误"]
    assert sheet[1][1] == "9号楼" and sheet[1][-1].startswith("楼栋：本社区没有")
    assert sheet[-1][-1] is None and sheet[-1][4] == "张大爷"  # the good row, no error
    # A commit of the same file: refused whole, nothing written, the report in the error.
    with pytest.raises(ValidationFailed) as refused:
        run("demo-staff", "households", xlsx(HH, rows))
    assert refused.value.code == "import_invalid" and len(refused.value.errors["errors"]) == 6
    assert (snapshot(Household), snapshot(HouseholdTag)) == before


def test_one_bad_row_writes_nothing_of_the_good_ones(roster):
    rows = [["虹桥小区", "3号楼", "1", f"9{n:02}", "新户", None, None] for n in range(5)]
    rows.append(["虹桥小区", "3号楼", "1", "999", "坏电话", "电话", None])
    before = snapshot(Household)
    with pytest.raises(ValidationFailed):
        run("demo-staff", "households", xlsx(HH, rows))
    assert snapshot(Household) == before
    report = run("demo-staff", "households", xlsx(HH, rows[:-1]))
    assert counts(report) == (5, 0, 0, 0)


def test_cells_are_checked_as_text():
    with pytest.raises(reading.CellError, match="代理字符"):
        reading.text("a\ud800b", 10)
    with pytest.raises(reading.CellError, match="控制字符"):
        reading.text("a\x07b", 10)
    with pytest.raises(reading.CellError, match="年份"):
        reading.to_date(date(1999, 12, 31))
    with pytest.raises(reading.CellError, match="日期"):
        reading.to_date("2026-02-30")
    assert reading.to_date("2026/3/5") == date(2026, 3, 5)
    assert reading.to_time("9:05") == time(9, 5)
    with pytest.raises(reading.CellError):
        reading.to_time("25:00")
    assert reading.text(13800001111.0, 20) == "13800001111"


# --- hostile files ------------------------------------------------------------------------

def bomb(data: bytes, member: str) -> bytes:
    """The workbook with a billion-laughs entity expansion planted in one member."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == member:
                text = body.decode()
                text = text.split("?>", 1)[1] if text.startswith("<?xml") else text
                entities = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">'
                                   for i in range(1, 10))
                dtd = f'<!DOCTYPE lolz [<!ENTITY lol0 "lol">{entities}]>'
                tag = text.index(">", text.index("<sheetData") if "<sheetData" in text
                                 else text.index("<sheets")) + 1
                body = ('<?xml version="1.0"?>' + dtd + text[:tag] + "&lol9;"
                        + text[tag:]).encode()
            archive.writestr(info.filename, body)
    return out.getvalue()


def test_openpyxl_parses_with_defusedxml():
    from openpyxl.xml import functions

    assert openpyxl.DEFUSEDXML is True  # requirements.txt: defusedxml
    assert functions.iterparse.__module__.startswith("defusedxml")  # worksheets
    assert functions.fromstring.__module__.startswith("defusedxml")  # workbook parts


@pytest.mark.parametrize("member", ["xl/workbook.xml", "xl/worksheets/sheet1.xml"])
def test_an_xml_bomb_is_refused(app, ctx, world, member):
    data = bomb(xlsx(HH, [["虹桥小区", "1号楼", "1", "101", "x", None, None]]), member)
    assert b"<!ENTITY lol9" in zipfile.ZipFile(io.BytesIO(data)).read(member)
    with pytest.raises(ValidationFailed) as refused:
        run("demo-staff", "households", data, commit=False)
    assert refused.value.code == "invalid_spreadsheet" and "XML" in refused.value.message


def test_other_files_are_refused(app, ctx, world):
    cases = {
        b"\xd0\xcf\x11\xe0old xls": ".xlsx",
        "小区,楼栋\n虹桥小区,1号楼\n".encode(): ".xlsx",
        b"PK\x03\x04broken": ".xlsx",
    }
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<x/>")
        archive.writestr("xl/workbook.xml", "<x/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"<a>" + b" " * (30 * 1024 * 1024) + b"</a>")
    cases[zipped.getvalue()] = "解压后过大"  # a zip bomb: 30 MB of blanks in 30 KB
    app.config["IMPORT_MAX_BYTES"] = 1024
    try:
        with pytest.raises(ValidationFailed, match="文件过大"):
            run("demo-staff", "households", xlsx(HH, [["a"] * 7] * 100), commit=False)
    finally:
        app.config.pop("IMPORT_MAX_BYTES")
    for data, message in cases.items():
        with pytest.raises(ValidationFailed) as refused:
            run("demo-staff", "households", data, commit=False)
        assert refused.value.code == "invalid_spreadsheet" and message in refused.value.message
    with pytest.raises(ValidationFailed, match="无法识别的列"):
        run("demo-staff", "households", xlsx(["小区", "密码"], [["a", "b"]]), commit=False)
    formula = openpyxl.Workbook()
    formula.active.append(HH)
    formula.active.append(["虹桥小区", "1号楼", "1", "101", "=1+1", None, None])
    out = io.BytesIO()
    formula.save(out)
    with pytest.raises(ValidationFailed, match="公式"):
        run("demo-staff", "households", out.getvalue(), commit=False)


# --- roles and scope ----------------------------------------------------------------------

@pytest.fixture
def elsewhere(ctx, world):
    """Another community (别的社区) with a compound, a building and its own staff member."""
    community = Community(street_id=db.session.get(Community, world["community"]).street_id,
                          name="别的社区")
    grid = Grid(community=community, name="别的网格")
    compound = Compound(community=community, name="远方小区")
    db.session.add_all([community, grid, compound])
    db.session.flush()
    db.session.add(Building(compound_id=compound.id, grid_id=grid.id, name="1号楼"))
    staff = User(openid="other-staff", nickname="外社区")
    staff.grants.append(RoleGrant(role=Role.STAFF, scope_kind=ScopeKind.COMMUNITY,
                                  scope_id=community.id))
    db.session.add(staff)
    db.session.commit()
    return community.id


def test_scope_another_communitys_building_is_a_row_error(roster, elsewhere, world):
    rows = [["远方小区", "1号楼", "1", "101", "越界", None, None],
            ["虹桥小区", "1号楼", "1", "101", "张大爷", "13800001111", "困难家庭；独居老人"]]
    report = run("demo-staff", "households", xlsx(HH, rows), commit=False)
    assert [(e.row, e.column) for e in report.errors] == [(2, "楼栋")]
    assert report.unchanged == 1
    # A secretary may import only their own compound's households.
    rows = [["虹桥小区", "1号楼", "1", "101", "张大爷", None, None]]
    report = run("demo-secretary-2", "households", xlsx(HH[:5], rows), commit=False)
    assert [e.message for e in report.errors] == ["您无权导入该楼栋的住户（不在您负责的范围内）"]
    # Naming the other community outright: 403 before anything is read.
    with pytest.raises(Forbidden):
        run("other-staff", "households", xlsx(HH, rows), filters={"community_id":
                                                                  world["community"]})
    with pytest.raises(Forbidden):
        exports.export(user("other-staff"), "guides", {"community_id": world["community"]})
    for openid in ("demo-resident", "demo-department", "demo-canteen"):
        with pytest.raises(Forbidden):
            run(openid, "households", xlsx(HH, rows), commit=False)


def test_private_columns_follow_the_role(roster):
    staff = read(exported("demo-staff", "households"))
    kitchen = read(exported("demo-canteen", "households"))
    assert "关爱标签" in staff[0] and "关爱标签" not in kitchen[0]
    assert kitchen[0] == ["小区", "楼栋", "单元", "房号", "户主姓名", "户主电话"]
    assert ["虹桥小区", "1号楼", "1", "101", "张大爷", "138****1111"] in kitchen
    assert not any("独居" in str(cell) for row in kitchen for cell in row)
    # A grid worker sees only their grid's buildings (虹桥小区 is grid 1), with tags.
    grid = read(exported("demo-grid-worker", "households"))
    assert {row[0] for row in grid[1:]} == {"虹桥小区"} and "关爱标签" in grid[0]
    # The template of a role without care tags has no such column either.
    kind = registry.get("households")
    assert "关爱标签" in read(workbooks.template_bytes(
        kind, kind.context(user("demo-staff"), {}, True)))[0]


def test_exports_neutralise_formulas(roster):
    book = openpyxl.load_workbook(io.BytesIO(exported("demo-staff", "households")))
    cells = [c for row in book.active.iter_rows() for c in row
             if isinstance(c.value, str) and c.value.startswith("=")]
    assert cells and all(c.data_type == "s" and c.quotePrefix for c in cells)
    # ... and the text imports back as the same text.
    assert counts(run("demo-staff", "households", exported("demo-staff", "households"))) \
        == (0, 0, 42, 0)


def test_template_has_validations(app, ctx, world):
    kind = registry.get("menus")
    make_canteen(app, world["community"])
    book = openpyxl.load_workbook(io.BytesIO(workbooks.template_bytes(
        kind, kind.context(user("demo-canteen"), {}, True))))
    sheet = book.worksheets[0]
    assert [c.value for c in sheet[1]][:3] == ["食堂", "日期", "餐次"]
    types = {dv.type for dv in sheet.data_validations.dataValidation}
    assert {"list", "date", "whole", "decimal"} <= types
    options = book["选项"]
    assert options.sheet_state == "hidden" and options["C1"].value == "早餐"


# --- big exports as a job -----------------------------------------------------------------

def test_a_big_export_runs_as_a_job_for_its_owner_only(app, roster):
    app.config["EXPORT_SYNC_MAX_ROWS"] = 10
    try:
        assert exports.export(user("demo-staff"), "households", {}) is None
        db.session.rollback()
        job = exports.queue(user("demo-staff"), "households", {})
        assert exports.run_pending() == {"done": 1, "failed": 0}
    finally:
        app.config.pop("EXPORT_SYNC_MAX_ROWS")
    row = db.session.get(ExportJob, job.id)
    assert row.row_count == 42 and row.storage_key.startswith("exports/")
    note = db.session.scalar(sa.select(Notification).where(
        Notification.template_key == "export_ready"))
    assert note.user_id == world_user("demo-staff")
    assert note.payload["link"] == f"/console/exports/jobs/{job.id}/download"
    data, filename, _ = exports.download(user("demo-staff"), job.id)
    assert len(read(data)) == 43 and filename.endswith(".xlsx")
    with pytest.raises(Exception) as other:
        exports.download(user("demo-admin"), job.id)
    assert getattr(other.value, "code", None) == "export_not_found"
    assert exports.run_pending() == {"done": 0, "failed": 0}


def test_an_export_job_fails_when_the_grant_went_meanwhile(app, roster):
    job = exports.queue(user("demo-staff"), "households", {})
    db.session.execute(sa.delete(RoleGrant).where(RoleGrant.user_id == job.user_id))
    db.session.commit()
    assert exports.run_pending() == {"done": 0, "failed": 1}
    assert db.session.get(ExportJob, job.id).storage_key is None


def world_user(openid: str) -> int:
    return user(openid).id


def test_an_export_job_that_breaks_is_failed_not_retried_forever(app, roster, monkeypatch):
    job = exports.queue(user("demo-staff"), "households", {})

    def broken(self, key, data):
        raise OSError("disk full")
    monkeypatch.setattr("app.storage.LocalStorage.save", broken)
    assert exports.run_pending() == {"done": 0, "failed": 1}
    db.session.expire_all()
    row = db.session.get(ExportJob, job.id)
    assert row.status.value == "failed" and row.error == "导出失败，请稍后重试"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0
    assert exports.run_pending() == {"done": 0, "failed": 0}
