"""数字看板 in full: incident figures against 岢岚's 90% target and the open ones by building
(the SVG map and its table), the canteen, visits and 双报到 sections, each role held to its
scope, bad scopes answered in HTML, and a statement count that does not grow with the data."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.models import (
    Booking,
    BookingState,
    CareTag,
    FeedbackStatus,
    IncidentStatus,
    Meal,
    PayWith,
)
from app.models.base import utcnow
from tests.fixtures.canteen import DAY, make_diner, make_meal
from tests.helpers import counting_queries, in_app

S = IncidentStatus


def cell(page: str, key: str) -> str:
    found = re.search(rf'data-k="{key}">([^<]*)<', page)
    assert found, (key, page[:400])
    return found.group(1).strip()


def section(page: str, name: str) -> str:
    found = re.search(rf'<section class="card" id="{name}"[^>]*>(.*?)</section>', page, re.S)
    assert found, name
    return found.group(1)


def options(page: str) -> set[str]:
    return set(re.findall(r'<option value="([^"]+)"', page))


def move(app, incident_id: int, **deadlines) -> None:
    """Set an incident's deadlines (before its response or resolution: late)."""
    from app.extensions import db
    from app.models import Incident

    def work():
        db.session.execute(sa.update(Incident).where(Incident.id == incident_id)
                           .values(**deadlines))
        db.session.commit()
    in_app(app, work)


def test_incident_figures_rates_overdue_and_the_map(app, console_login, client, people, world,
                                                    make_incident):
    now = utcnow()
    hq1, hq2, ss1 = ("虹桥小区", "1号楼"), ("虹桥小区", "2号楼"), ("盛世华城", "1号楼")
    # In the range: responded in 30 min (on time); one responded late; two resolved, one late.
    make_incident(building=hq1)                                     # dispatched, open
    make_incident(building=hq1, status=S.ACCEPTED)                  # responded on time
    late = make_incident(building=hq1, status=S.ACCEPTED)          # responded late
    make_incident(building=hq2, status=S.CLOSED, category="facility")  # resolved on time
    slow = make_incident(building=ss1, status=S.CLOSED, category="facility")  # resolved late
    move(app, late, respond_by=now)
    move(app, slow, resolve_by=now)
    # Before the range, still open and past its deadline: overdue now, not "received".
    old = make_incident(building=hq2, status=S.ACCEPTED, created_at=now - timedelta(days=20))
    community = world["community"]
    staff = console_login("demo-staff")
    page = staff.get(f"/console/?scope=community:{community}").text
    api = client.get(f"/api/v1/incidents/stats?community_id={community}",
                     headers=people["demo-staff"]).get_json()

    assert cell(page, "total") == str(api["total"]) == "5"
    assert cell(page, "responded") == "4"  # three accepted-or-later + two closed, one late
    assert cell(page, "resolved") == "2"
    assert cell(page, "response") == f"{api['on_time_response_rate'] * 100:.1f}%" == "75.0%"
    assert cell(page, "resolution") == "50.0%"
    # Both under the 90% target: marked.
    assert re.search(r'class="n below"\s+data-k="response"', page)
    assert re.search(r'class="n below"\s+data-k="resolution"', page)
    assert cell(page, "open") == "4" and cell(page, "overdue") == "1"
    assert f'class="overdue-item" data-id="{old}"' in page
    assert "类别：" in section(page, "incidents")

    # The map: one circle per building with open incidents, sized by the count, red when
    # one of them is overdue; the same numbers in the table beside it.
    circles = dict(re.findall(r'<circle class="building" data-building="(\d+)"[^>]*r="([\d.]+)"',
                              page))
    b_hq1, b_hq2 = world["buildings"][hq1], world["buildings"][hq2]
    assert set(circles) == {str(b_hq1), str(b_hq2)}
    assert float(circles[str(b_hq1)]) > float(circles[str(b_hq2)])
    fills = dict(re.findall(r'data-building="(\d+)" cx="[\d.]+" cy="[\d.]+" r="[\d.]+"\s+'
                            r'fill="([^"]+)"', page))
    assert fills == {str(b_hq1): "#1e88e5", str(b_hq2): "#b71c1c"}
    rows = re.findall(r'<tr class="building-row" data-building="(\d+)"><td>([^<]*)</td>'
                      r'<td>([^<]*)</td>\s*<td class="n">(\d+)</td><td class="n">(\d+)</td>', page)
    assert rows == [(str(b_hq1), "虹桥小区", "1号楼", "3", "0"),
                    (str(b_hq2), "虹桥小区", "2号楼", "1", "1")]
    for x, y in re.findall(r'<circle class="building"[^>]*cx="([\d.]+)" cy="([\d.]+)"', page):
        assert 0 <= float(x) <= 640 and 0 <= float(y) <= 360
    assert "tile" not in page and "openstreetmap" not in page.lower()

    # A compound's dashboard counts its own incidents only.
    shengshi = world["compounds"]["盛世华城"]
    other = console_login("demo-secretary-2").get(f"/console/?scope=compound:{shengshi}").text
    assert cell(other, "total") == "1" and cell(other, "open") == "0"
    assert cell(other, "resolution") == "0.0%"
    assert "当前没有可标在图上的未办结随手拍" in other


def test_scopes_offered_follow_the_grants(console_login, world):
    community = world["community"]
    grids, compounds = world["grids"], world["compounds"]
    everything = {f"community:{community}", *(f"grid:{g}" for g in grids),
                  *(f"compound:{c}" for c in compounds.values())}
    expected = {
        "demo-grid-worker": {f"grid:{grids[0]}"},
        "demo-grid-worker-2": {f"grid:{grids[1]}"},
        "demo-secretary": {f"compound:{compounds['虹桥小区']}"},
        "demo-staff": everything,
        "demo-canteen": everything,
    }
    for openid, offered in expected.items():
        browser = console_login(openid)
        assert options(browser.get("/console/").text) == offered, openid
        for key in everything - offered:  # asked for by hand: refused, in HTML
            refused = browser.get(f"/console/?scope={key}")
            assert refused.status_code == 403 and "无权查看该范围的看板" in refused.text, \
                (openid, key)
    page = console_login("demo-department").get("/console/").text
    assert 'id="no-scope"' in page and options(page) == set()


def test_sections_follow_the_roles(console_login, world):
    community = world["community"]
    # Canteen staff: the canteen only.
    page = console_login("demo-canteen").get(f"/console/?scope=community:{community}").text
    assert 'data-k="booked"' in page
    for hidden in ("随手拍统计", "微心愿统计", "双报到名册", "走访统计", "积分统计"):
        assert f"无权查看{hidden}" in page, hidden
    assert 'id="map"' not in page
    # A grid worker: wishes and visits of the grid; no incident, canteen or points figures.
    worker = console_login("demo-grid-worker").get("/console/").text
    assert 'data-k="posted"' in worker and 'data-k="visits_due"' in worker
    for hidden in ("随手拍统计", "食堂统计", "双报到名册", "积分统计"):
        assert f"无权查看{hidden}" in worker, hidden
    # A secretary: no canteen and no roster, the rest of the compound.
    secretary = console_login("demo-secretary").get("/console/").text
    assert 'data-k="total"' in secretary and 'data-k="visits_due"' in secretary
    assert "无权查看食堂统计" in secretary and "无权查看双报到名册" in secretary
    assert "（全社区）" in secretary  # community-wide sections say so on a compound's page


def book_rows(app, world, meal_id: int, states: list[BookingState]) -> None:
    """One booking per state, each for its own diner of 张阿姨's household."""
    from app.extensions import db
    from app.models import User
    household = in_app(app, lambda: db.session.get(User, world["users"]["demo-resident"])
                       .household_id)
    diners = [make_diner(app, household, name=f"用餐人{n}") for n in range(len(states))]

    def work():
        meal = db.session.get(Meal, meal_id)
        for n, (diner, state) in enumerate(zip(diners, states, strict=True)):
            db.session.add(Booking(
                meal_id=meal_id, canteen_id=meal.canteen_id, day=meal.day,
                booker_id=world["users"]["demo-resident"], diner_id=diner, quantity=1,
                tier="standard", unit_price_fen=1500, amount_fen=1500,
                pay_with=PayWith.COUNTER, pickup_code=f"{100000 + n}", state=state))
        db.session.commit()
    in_app(app, work)


def test_canteen_booked_served_no_show_and_rating(app, console_login, world, canteen, clock):
    from app.extensions import db
    from app.models import CanteenFeedback
    lunch = make_meal(app, canteen)
    B = BookingState
    book_rows(app, world, lunch, [B.CHECKED_IN, B.CHECKED_IN, B.CHECKED_IN, B.NO_SHOW,
                                  B.BOOKED, B.CANCELLED])
    # A meal outside the range counts nothing.
    later = make_meal(app, canteen, day=DAY + timedelta(days=10))
    book_rows(app, world, later, [B.CHECKED_IN])

    def feedback():
        resident = world["users"]["demo-resident"]
        for rating, status in ((5, FeedbackStatus.VISIBLE), (4, FeedbackStatus.VISIBLE),
                               (1, FeedbackStatus.HIDDEN)):
            db.session.add(CanteenFeedback(canteen_id=canteen, user_id=resident,
                                           rating=rating, status=status))
        db.session.commit()
    in_app(app, feedback)
    community = world["community"]
    for openid in ("demo-staff", "demo-canteen"):
        page = console_login(openid).get(f"/console/?scope=community:{community}").text
        got = {k: cell(page, k) for k in ("booked", "served", "no_show", "waiting",
                                          "cancelled", "rating")}
        assert got == {"booked": "5", "served": "3", "no_show": "1", "waiting": "1",
                       "cancelled": "1", "rating": "4.50"}, openid
        assert "2 条评价" in page


def test_visits_due_and_overdue_match_the_visit_service(app, console_login, client, people,
                                                        world, tag, address, make_visit):
    long_ago = utcnow() - timedelta(days=60)
    alone = address("虹桥小区", "1号楼", "1", "101")
    hardship = address("虹桥小区", "2号楼", "1", "101")
    visited = address("虹桥小区", "1号楼", "2", "202")
    elsewhere = address("盛世华城", "1号楼", "1", "101")
    tag(alone, CareTag.LIVING_ALONE, since=long_ago)
    tag(hardship, CareTag.HARDSHIP, since=long_ago)
    tag(visited, CareTag.LIVING_ALONE, since=long_ago)
    tag(elsewhere, CareTag.HARDSHIP, since=long_ago)
    make_visit(household_id=visited, at=utcnow() - timedelta(hours=2))  # not due again yet
    grid = world["grids"][0]
    page = console_login("demo-grid-worker").get(f"/console/?scope=grid:{grid}").text
    api = client.get(f"/api/v1/visits/due?scope=grid&grid_id={grid}",
                     headers=people["demo-grid-worker"]).get_json()
    assert cell(page, "visits_due") == str(len(api["items"])) == "2"
    assert cell(page, "visits_overdue") == "2"
    staff = console_login("demo-staff").get(
        f"/console/?scope=community:{world['community']}").text
    assert cell(staff, "visits_due") == "3"
    # Counts only: no household, address or care tag on the dashboard.
    for text in ("独居老人", "困难家庭", "101"):
        assert text not in section(staff, "visits")


def test_party_members_behind_the_bar(console_login, world, confirmed_member):
    confirmed_member()
    community = world["community"]
    page = console_login("demo-staff").get(f"/console/?scope=community:{community}").text
    assert cell(page, "members") == "1" and cell(page, "behind") == "1"
    assert "刘党员" in section(page, "party") and "0 次 / 0.0 小时" in page


def test_bad_scopes_and_ranges_are_html_errors(console_login):
    staff = console_login("demo-staff")
    for key in ("compound:²", "grid:99999999999999999999", "street:1", "compound:", ":",
                "compound:-1", "community:1.5"):
        page = staff.get("/console/", query_string={"scope": key})
        assert page.status_code == 404 and page.mimetype == "text/html", key
        assert "范围不存在" in page.text and '"code"' not in page.text
    for query in ({"from": "2026-12-09", "to": "2026-12-01"}, {"to": "1999-01-01"},
                  {"from": "２０２６-01-01"}):
        page = staff.get("/console/", query_string=query)
        assert page.status_code == 422 and page.mimetype == "text/html", query


def test_statements_do_not_grow_with_the_incidents(app, console_login, world, make_incident):
    community = world["community"]
    staff = console_login("demo-staff")
    path = f"/console/?scope=community:{community}"
    make_incident()
    staff.get(path)  # warm caches
    with counting_queries(app) as few:
        assert staff.get(path).status_code == 200
    for n in range(12):
        make_incident(building=("盛世华城", f"{n % 3 + 1}号楼"),
                      status=(S.CLOSED, S.ACCEPTED, S.DISPATCHED)[n % 3])
    with counting_queries(app) as many:
        assert staff.get(path).status_code == 200
    assert len(many) == len(few), (len(few), len(many))
    assert len(few) <= 30, few


@pytest.mark.parametrize("htmx", [True, False])
def test_the_filter_swaps_only_the_body(console_login, world, htmx):
    hongqiao = world["compounds"]["虹桥小区"]
    headers = {"HX-Request": "true"} if htmx else {}
    page = console_login("demo-staff").get(f"/console/?scope=compound:{hongqiao}",
                                           headers=headers).text
    assert f'data-scope="compound:{hongqiao}"' in page
    assert ("<html" in page) is not htmx and ('id="dashboard-filter"' in page) is not htmx
    charted = ("incidents", "rates", "wishes", "canteen", "party", "visits", "points")
    assert page.count("<canvas data-chart=") == len(charted)
    for name in charted:  # every chart with its numbers in a table beside it
        body = section(page, name)
        assert "<canvas data-chart=" in body and '<td class="n' in body, name

