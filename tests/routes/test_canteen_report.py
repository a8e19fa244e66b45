"""The monthly subsidy report (.xlsx) over HTTP, read back with openpyxl: meals handed over
in the month by tier, by date and meal, and by diner, with the subsidy totals; no-shows,
cancellations, other months and other canteens left out; the community's staff only."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from io import BytesIO
from urllib.parse import quote

import pytest
from openpyxl import load_workbook

from app.extensions import db
from app.models import BookingState, MealKind, User
from app.services import spreadsheets
from tests.helpers import in_app
from tests.jobs.test_canteen_jobs import make_booking, make_canteen, make_diner, make_meal
from tests.routes.test_canteen_feedback import other_community

B = BookingState
MONTH = "2027-01"


@pytest.fixture
def january(app, world) -> int:
    """幸福食堂's January: 张阿姨 (80+, 5 元) twice, 王奶奶 (特困, 8 元, booked by the grid
    worker) once, 李师傅 (普通) with three portions; and what must not count."""
    users = world["users"]
    cook = users["demo-canteen"]
    canteen = make_canteen(app, world["community"])
    elsewhere = other_community(app)
    lunch5 = make_meal(app, canteen, date(2027, 1, 5), by=cook)
    dinner5 = make_meal(app, canteen, date(2027, 1, 5), MealKind.DINNER, by=cook)
    lunch6 = make_meal(app, canteen, date(2027, 1, 6), by=cook)
    feb = make_meal(app, canteen, date(2027, 2, 1), by=cook)
    dec = make_meal(app, canteen, date(2026, 12, 31), by=cook)
    theirs = make_meal(app, elsewhere["canteen"], date(2027, 1, 5), by=cook)
    zhang = make_diner(app, user_id=users["demo-resident"], birth_year=1945)
    household = in_app(app, lambda: db.session.get(User, users["demo-resident"]).household_id)
    wang = make_diner(app, household_id=household, name="王奶奶", birth_year=1938)
    li = make_diner(app, user_id=users["demo-resident-2"], birth_year=1970)
    resident, worker = users["demo-resident"], users["demo-grid-worker"]
    served = B.CHECKED_IN
    make_booking(app, lunch5, zhang, resident, tier="age_80", subsidy_fen=500, state=served)
    make_booking(app, lunch6, zhang, resident, tier="age_80", subsidy_fen=500, state=served,
                 quantity=2)
    make_booking(app, dinner5, wang, worker, tier="tekun", subsidy_fen=800, state=served)
    make_booking(app, lunch5, li, users["demo-resident-2"], quantity=3, state=served)
    # Not claimed: a no-show, a cancellation, other months, another canteen.
    make_booking(app, dinner5, zhang, resident, tier="age_80", subsidy_fen=500, state=B.NO_SHOW)
    make_booking(app, lunch6, wang, worker, tier="tekun", subsidy_fen=800, state=B.CANCELLED)
    make_booking(app, feb, zhang, resident, tier="age_80", subsidy_fen=500, state=served)
    make_booking(app, dec, wang, worker, tier="tekun", subsidy_fen=800, state=served)
    make_booking(app, theirs, li, users["demo-resident-2"], tier="age_80", subsidy_fen=500,
                 state=served)
    return canteen


def rows(sheet) -> list[list]:
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def test_the_staff_download_the_months_subsidy_report(client, people, january):
    res = client.get(f"/api/v1/canteens/{january}/subsidy-report.xlsx?month={MONTH}",
                     headers=people["demo-staff"])
    assert res.status_code == 200
    assert res.mimetype == spreadsheets.MIMETYPE
    assert res.headers["Cache-Control"] == "private, no-store"
    disposition = res.headers["Content-Disposition"]
    assert f"filename=\"canteen-{january}-subsidy-2027-01.xlsx\"" in disposition
    assert quote("幸福食堂2027年1月助餐补贴.xlsx") in disposition
    book = load_workbook(BytesIO(res.data))
    assert book.sheetnames == ["按档位汇总", "按日期餐次", "按用餐人"]
    assert rows(book["按档位汇总"]) == [
        ["档位", "每餐补助（元）", "用餐人次", "总份数", "补助合计（元）"],
        ["特困人员", 8, 1, 1, 8],
        ["80 周岁以上", 5, 2, 3, 10],
        ["普通", 0, 1, 3, 0],
        ["合计", None, 4, 7, 18],
    ]
    by_meal = rows(book["按日期餐次"])
    assert [r[1:] for r in by_meal] == [
        ["餐次", "档位", "用餐人次", "总份数", "补助合计（元）"],
        ["午餐", "80 周岁以上", 1, 1, 5],
        ["午餐", "普通", 1, 3, 0],
        ["晚餐", "特困人员", 1, 1, 8],
        ["午餐", "80 周岁以上", 1, 2, 5],
    ]
    assert by_meal[0][0] == "日期"
    days = [r[0].date() for r in rows(book["按日期餐次"])[1:]]
    assert days == [date(2027, 1, 5)] * 3 + [date(2027, 1, 6)]
    assert rows(book["按用餐人"]) == [
        ["姓名", "小区", "楼栋", "单元", "房号", "出生年份", "档位", "用餐次数", "补助合计（元）"],
        ["张阿姨", "虹桥小区", "1号楼", "1", "101", 1945, "80 周岁以上", 2, 10],
        ["王奶奶", "虹桥小区", "1号楼", "1", "101", 1938, "特困人员", 1, 8],
        ["李师傅", "虹桥小区", "1号楼", "1", "201", 1970, "普通", 1, 0],
    ]
    # Money is exact (yuan with two decimals), never a float.
    assert Decimal(str(rows(book["按档位汇总"])[-1][-1])) == Decimal("18")


def test_an_empty_month_is_a_workbook_with_a_zero_total(client, people, january):
    res = client.get(f"/api/v1/canteens/{january}/subsidy-report.xlsx?month=2027-03",
                     headers=people["demo-admin"])
    book = load_workbook(BytesIO(res.data))
    assert rows(book["按档位汇总"])[1:] == [["合计", None, 0, 0, 0]]
    assert rows(book["按用餐人"])[1:] == []


def test_only_the_communitys_staff_may_download_it(client, app, people, january, auth):
    url = f"/api/v1/canteens/{january}/subsidy-report.xlsx?month={MONTH}"
    # Canteen staff cook and check in; the claim with names and addresses is the staff's.
    for who in ("demo-canteen", "demo-resident", "demo-grid-worker", "demo-secretary"):
        res = client.get(url, headers=people[who])
        assert res.status_code == 403 and res.get_json()["code"] == "forbidden", who
        assert "张阿姨" not in res.get_data(as_text=True)
    assert client.get(url, headers=auth("other-staff")).status_code == 403
    assert client.get(url).status_code == 401
    missing = client.get(f"/api/v1/canteens/999999/subsidy-report.xlsx?month={MONTH}",
                         headers=people["demo-staff"])
    assert missing.status_code == 404 and missing.get_json()["code"] == "canteen_not_found"
    for bad in ("month=2027-13", "month=27-01", "month=1999-12", "month=", ""):
        res = client.get(f"/api/v1/canteens/{january}/subsidy-report.xlsx?{bad}",
                         headers=people["demo-staff"])
        assert res.status_code == 422 and res.get_json()["code"] == "validation_error", bad
        assert "month" in res.get_json()["errors"]["query"]
