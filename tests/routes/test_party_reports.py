"""Staff's 双报到 reports over HTTP: the roster as .xlsx (read back with openpyxl: every
member's year, score and grade, no phone number, a typed formula stays text) and the
employer roll-up per quarter (JSON and .xlsx), with their refusals."""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import openpyxl
import time_machine

from app.extensions import db
from app.models import User
from app.services import spreadsheets
from app.services.party.exports import ROSTER_HEADER
from tests.fixtures.party import unverified_log, workbook_rows
from tests.helpers import counting_queries, in_app, login_many

SHANGHAI = timezone(timedelta(hours=8))
REGISTERED = datetime(2026, 1, 5, 10, tzinfo=SHANGHAI)
NOW = datetime(2026, 11, 20, 10, tzinfo=SHANGHAI)


def get(client, path: str, headers: dict, expect: int = 200):
    response = client.get(path, headers=headers)
    assert response.status_code == expect, response.get_data(as_text=True)[:500]
    return response


def post(client, path: str, headers: dict, expect: int, **body) -> dict:
    response = client.post(path, headers=headers, json=body)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def set_phone(app, user_id: int, phone: str) -> None:
    def work():
        db.session.get(User, user_id).phone = phone
        db.session.commit()
    in_app(app, work)


def served(app, client, world, people, party_members, manual_log):
    """In January 刘党员 registers (employer 县人社局) and 党员0, 党员1 (县直单位) are
    confirmed; by 20 November 刘党员 served 4 + 3.5 + 4 + 5 hours, one log a quarter, and
    党员0 2 hours in May and 3 in November; a flagged 6-hour log of 刘党员 is unverified;
    last year 刘党员 served 2 hours. Returns the two members' fresh headers and ids."""
    with time_machine.travel(REGISTERED, tick=False):
        mine = post(client, "/api/v1/party/registrations", people["demo-party-member"], 201,
                    community_id=world["community"], employer="县人社局", skills="法律咨询")
        post(client, f"/api/v1/party/registrations/{mine['id']}/transitions",
             people["demo-staff"], 200, action="confirm")
        others = party_members(2)
    liu = world["users"]["demo-party-member"]
    with time_machine.travel(NOW, tick=False):
        for month, day, hours in ((2, 10, 4), (5, 20, 3.5), (8, 8, 4), (11, 10, 5)):
            manual_log(liu, datetime(2026, month, day, 9, tzinfo=SHANGHAI), hours)
        manual_log(liu, datetime(2025, 12, 30, 9, tzinfo=SHANGHAI), 2)
        manual_log(others.ids[0], datetime(2026, 5, 1, 9, tzinfo=SHANGHAI), 2)
        manual_log(others.ids[0], datetime(2026, 11, 1, 9, tzinfo=SHANGHAI), 3)
        fresh = login_many(app, client, ["member-0", "member-1"])
    unverified_log(app, liu, world["community"], datetime(2026, 6, 1, 9, tzinfo=SHANGHAI), 6)
    others[:] = fresh
    return others


def test_the_roster_downloads_as_xlsx_with_each_members_year_and_no_phone(
        app, client, world, people, party_members, manual_log, other_community):
    served(app, client, world, people, party_members, manual_log)
    staff, liu = people["demo-staff"], world["users"]["demo-party-member"]
    set_phone(app, liu, "13800001234")
    base = f"/api/v1/party/roster.xlsx?community_id={world['community']}"
    with time_machine.travel(NOW, tick=False):
        post(client, "/api/v1/party/score-items", staff, 201, member_id=liu,
             community_id=world["community"], points=10, reason="牵头组织楼栋议事会")
        response = get(client, base, staff)
    assert response.mimetype == spreadsheets.MIMETYPE
    name = "示范社区双报到党员花名册2026.xlsx"
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename=\"party-roster-{world['community']}-2026.xlsx\"; "
        f"filename*=UTF-8''{quote(name)}")
    assert response.headers["Cache-Control"] == "private, no-store"
    sheets = workbook_rows(response.data)
    assert list(sheets) == ["2026年花名册"]
    rows = sheets["2026年花名册"]
    assert tuple(rows[0]) == ROSTER_HEADER
    assert [row[:4] for row in rows[1:]] == [
        [1, "刘党员", "县人社局", "法律咨询"], [2, "党员0", "县直单位", None],
        [3, "党员1", "县直单位", None]]
    # Registered 5 January 10:00 Shanghai, written as Shanghai wall-clock time.
    assert rows[1][4] == datetime(2026, 1, 5, 10, 0)
    # times, hours, bar met (4 / 20), wishes, items, score, grade
    assert rows[1][5:] == [4, 16.5, "是", "否", 0, 10, 59.5, "基本合格"]
    assert rows[2][5:] == [2, 5, "否", "否", 0, 0, 15, "不合格"]
    assert rows[3][5:] == [0, 0, "否", "否", 0, 0, 0, "不合格"]
    cells = [str(value) for row in rows for value in row]
    assert not any("13800001234" in cell or "1380" in cell for cell in cells)

    with time_machine.travel(NOW, tick=False):
        last = workbook_rows(get(client, base + "&year=2025", staff).data)["2025年花名册"]
        assert last[1][1] == "刘党员" and last[1][5:7] == [1, 2]
        # Refusals answer the JSON envelope, never a file.
        _, other_staff = other_community
        for headers, path, status, code in (
                (people["demo-party-member"], base, 403, "forbidden"),
                (people["demo-secretary"], base, 403, "forbidden"),
                (other_staff, base, 403, "forbidden"),
                (staff, "/api/v1/party/roster.xlsx?community_id=999999", 404,
                 "community_not_found"),
                (staff, base + "&year=1999", 422, "validation_error"),
                (staff, "/api/v1/party/roster.xlsx", 422, "validation_error")):
            refused = get(client, path, headers, status)
            assert refused.mimetype == "application/json"
            assert refused.get_json()["code"] == code


def test_a_typed_formula_is_text_in_the_roster(app, client, world, people):
    attack = '=HYPERLINK("http://evil.example/","点我")'
    mine = post(client, "/api/v1/party/registrations", people["demo-party-member"], 201,
                community_id=world["community"], employer=attack, skills="+1+cmd|' /C calc'!A0")
    post(client, f"/api/v1/party/registrations/{mine['id']}/transitions",
         people["demo-staff"], 200, action="confirm")
    response = get(client, f"/api/v1/party/roster.xlsx?community_id={world['community']}",
                   people["demo-staff"])
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).worksheets[0]
    assert (sheet["C2"].value, sheet["C2"].data_type) == (attack, "s")
    assert (sheet["D2"].value, sheet["D2"].data_type) == ("+1+cmd|' /C calc'!A0", "s")


def test_the_employer_roll_up_per_quarter_as_json_and_xlsx(
        app, client, world, people, party_members, manual_log, other_community):
    others = served(app, client, world, people, party_members, manual_log)
    staff = people["demo-staff"]
    other_id, other_staff = other_community
    base = f"/api/v1/party/employers?community_id={world['community']}"
    with time_machine.travel(NOW, tick=False):
        # 党员0 moves to 东关社区: their hours here stay with 县直单位.
        moved = post(client, "/api/v1/party/registrations", others[0], 201,
                     community_id=other_id, employer="市直机关")
        post(client, f"/api/v1/party/registrations/{moved['id']}/transitions", other_staff,
             200, action="confirm")
        rollup = get(client, base, staff).get_json()
    assert rollup["community"] == {"id": world["community"], "name": "示范社区"}
    assert rollup["year"] == 2026

    def quarters(item):
        return [(q["quarter"], q["times"], q["hours"]) for q in item["quarters"]]
    first, second = rollup["items"]
    assert (first["employer"], first["members"], first["times"], first["hours"]) == (
        "县人社局", 1, 4, "16.5")
    assert quarters(first) == [(1, 1, "4.0"), (2, 1, "3.5"), (3, 1, "4.0"), (4, 1, "5.0")]
    # 党员1 is confirmed with nothing served yet; 党员0 left but served here.
    assert (second["employer"], second["members"], second["times"], second["hours"]) == (
        "县直单位", 2, 2, "5.0")
    assert quarters(second) == [(1, 0, "0.0"), (2, 1, "2.0"), (3, 0, "0.0"), (4, 1, "3.0")]
    total = rollup["total"]
    assert (total["employer"], total["members"], total["times"], total["hours"]) == (
        "合计", 3, 6, "21.5")
    assert quarters(total) == [(1, 1, "4.0"), (2, 2, "5.5"), (3, 1, "4.0"), (4, 2, "8.0")]
    with time_machine.travel(NOW, tick=False):
        last = get(client, base + "&year=2025", staff).get_json()
        assert [(i["employer"], i["hours"]) for i in last["items"]] == [
            ("县人社局", "2.0"), ("县直单位", "0.0")]
        there = get(client, f"/api/v1/party/employers?community_id={other_id}",
                    other_staff).get_json()
        assert [(i["employer"], i["members"], i["hours"]) for i in there["items"]] == [
            ("市直机关", 1, "0.0")]  # hours count where they were served

        response = get(client, f"/api/v1/party/employers.xlsx?community_id="
                       f"{world['community']}", staff)
    assert response.mimetype == spreadsheets.MIMETYPE
    assert f"filename*=UTF-8''{quote('示范社区双报到单位汇总2026.xlsx')}" in \
        response.headers["Content-Disposition"]
    rows = workbook_rows(response.data)["2026年单位汇总"]
    assert rows[0] == ["工作单位", "报到党员", "一季度次数", "一季度时长（小时）", "二季度次数",
                       "二季度时长（小时）", "三季度次数", "三季度时长（小时）", "四季度次数",
                       "四季度时长（小时）", "全年次数", "全年时长（小时）"]
    assert rows[1:] == [["县人社局", 1, 1, 4, 1, 3.5, 1, 4, 1, 5, 4, 16.5],
                        ["县直单位", 2, 0, 0, 1, 2, 0, 0, 1, 3, 2, 5],
                        ["合计", 3, 1, 4, 2, 5.5, 1, 4, 2, 8, 6, 21.5]]

    with time_machine.travel(NOW, tick=False):
        for name in ("employers", "employers.xlsx"):
            path = f"/api/v1/party/{name}?community_id={world['community']}"
            for headers, status, code in ((people["demo-party-member"], 403, "forbidden"),
                                          (other_staff, 403, "forbidden"),
                                          (people["demo-grid-worker"], 403, "forbidden")):
                assert get(client, path, headers, status).get_json()["code"] == code
            assert get(client, path + "&year=2101", staff, 422).get_json()["code"] \
                == "validation_error"
            assert get(client, f"/api/v1/party/{name}?community_id=999999", staff,
                       404).get_json()["code"] == "community_not_found"


def test_reports_and_the_public_list_run_a_fixed_number_of_queries(
        app, client, world, people, party_members):
    staff = people["demo-staff"]
    paths = [f"/api/v1/party/roster.xlsx?community_id={world['community']}",
             f"/api/v1/party/employers?community_id={world['community']}",
             f"/api/v1/party/employers.xlsx?community_id={world['community']}",
             f"/api/v1/party/scores?community_id={world['community']}&limit=100"]

    def counts() -> list[int]:
        found = []
        for path in paths:
            with counting_queries(app) as queries:
                get(client, path, staff)
            found.append(len(queries))
        return found
    party_members(3, prefix="few")
    few = counts()
    party_members(30, prefix="many")
    assert counts() == few  # not one query per member
