"""Every console page for every staff-side role, the same scope checks as the API, a
moderation decision (audited, through the transition services), and HTML errors."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.models import IncidentStatus, Wish, WishStatus
from app.models.base import utcnow
from tests.console.test_signin import STAFF_SIDE
from tests.helpers import in_app

S = IncidentStatus
PAGES = ["/console/", "/console/moderation", "/console/wishes"]


def incident_status(app, incident_id):
    from app.extensions import db
    from app.models import Incident
    return in_app(app, lambda: db.session.get(Incident, incident_id).status)


def wish_status(app, wish_id):
    from app.extensions import db
    return in_app(app, lambda: db.session.get(Wish, wish_id).status)


def ids(html: str, kind: str) -> set[int]:
    return {int(i) for i in re.findall(rf'class="{kind}" data-id="(\d+)"', html)}


@pytest.fixture
def held(make_incident, wish_post):
    """A pending_review incident and wish in each compound: {compound: (incident, wish)}."""
    return {
        "虹桥小区": (make_incident(status=S.PENDING_REVIEW),
                     wish_post("demo-resident")["id"]),
        "盛世华城": (make_incident(reporter="demo-resident-3", building=("盛世华城", "1号楼"),
                                   status=S.PENDING_REVIEW),
                     wish_post("demo-resident-3")["id"]),
    }


def test_every_page_for_every_staff_side_role(console_login, held):
    for openid in STAFF_SIDE:
        browser = console_login(openid)
        for path in PAGES:
            page = browser.get(path)
            assert page.status_code == 200, (openid, path, page.text[:300])
            assert page.mimetype == "text/html" and "<html" in page.text
            assert "管理后台" in page.text


def test_a_resident_never_gets_a_console_page(app, client, people, start_login):
    browser = app.test_client()
    nonce, _ = start_login(browser)
    client.post("/api/v1/console/approve", headers=people["demo-resident"], json={"nonce": nonce})
    for path in PAGES:
        assert browser.get(path).status_code == 302


def test_each_role_sees_its_own_scope_only(console_login, held):
    hongqiao, shengshi = held["虹桥小区"], held["盛世华城"]
    expected = {  # openid: (incidents, wishes) in the moderation queue
        "demo-secretary": ({hongqiao[0]}, {hongqiao[1]}),
        "demo-secretary-2": ({shengshi[0]}, {shengshi[1]}),
        "demo-grid-worker": ({hongqiao[0]}, {hongqiao[1]}),
        "demo-grid-worker-2": ({shengshi[0]}, {shengshi[1]}),
        "demo-staff": ({hongqiao[0], shengshi[0]}, {hongqiao[1], shengshi[1]}),
        "demo-admin": ({hongqiao[0], shengshi[0]}, {hongqiao[1], shengshi[1]}),
    }
    for openid, (incidents, wishes) in expected.items():
        page = console_login(openid).get("/console/moderation").text
        assert ids(page, "incident") == incidents, openid
        assert ids(page, "wish") == wishes, openid
    for openid in ("demo-department", "demo-canteen"):
        page = console_login(openid).get("/console/moderation").text
        assert ids(page, "incident") == set() and ids(page, "wish") == set()
        assert "无权查看随手拍审核" in page and "无权查看微心愿审核" in page


def test_dashboard_scope_is_checked_like_the_api(console_login, world, make_incident):
    make_incident()
    make_incident(reporter="demo-resident-3", building=("盛世华城", "1号楼"))
    hongqiao, shengshi = world["compounds"]["虹桥小区"], world["compounds"]["盛世华城"]
    secretary = console_login("demo-secretary")
    own = secretary.get("/console/")
    assert f'data-scope="compound:{hongqiao}"' in own.text
    assert f'value="compound:{shengshi}"' not in own.text  # not offered
    for key in (f"compound:{shengshi}", f"community:{world['community']}",
                f"grid:{world['grids'][1]}"):
        refused = secretary.get(f"/console/?scope={key}")
        assert refused.status_code == 403 and refused.mimetype == "text/html"
        assert "无权查看该范围的看板" in refused.text
        assert '"code"' not in refused.text  # never the JSON envelope
    unknown = secretary.get("/console/?scope=compound:99999")
    assert unknown.status_code == 404 and "范围不存在" in unknown.text
    bad = secretary.get("/console/?from=2026-13-01")
    assert bad.status_code == 422 and "日期" in bad.text
    too_long = secretary.get("/console/?from=2020-01-01&to=2026-01-01")
    assert too_long.status_code == 422 and "最长一年" in too_long.text
    # A grid worker's dashboard: its grid; incident and points figures are the secretary's
    # and staff's (as GET /incidents/stats), so those sections say so.
    worker = console_login("demo-grid-worker").get("/console/").text
    assert f'data-scope="grid:{world["grids"][0]}"' in worker
    assert "无权查看随手拍统计" in worker and 'data-k="posted"' in worker
    assert console_login("demo-department").get("/console/").text.count('id="no-scope"') == 1


def test_dashboard_numbers_match_the_statistics_api(console_login, client, people, world,
                                                    make_incident, wish_post):
    for _ in range(3):
        make_incident()
    make_incident(status=S.CLOSED)
    make_incident(reporter="demo-resident-3", building=("盛世华城", "1号楼"))
    wish_post("demo-resident")
    community = world["community"]
    api = client.get(f"/api/v1/incidents/stats?community_id={community}",
                     headers=people["demo-staff"]).get_json()
    page = console_login("demo-staff").get(f"/console/?scope=community:{community}").text

    def cell(key):
        return re.search(rf'data-k="{key}">([^<]*)<', page).group(1).strip()
    assert cell("total") == str(api["total"]) == "5"
    assert cell("overdue") == str(len(api["overdue"]))
    assert cell("posted") == "1" and cell("published") == "0"
    assert cell("members") == "0" and cell("issued") == "0"
    rate = api["on_time_resolution_rate"]
    assert cell("resolution") == ("—" if rate is None else f"{rate * 100:.1f}%")
    assert "data-chart=" in page and "目标 90.0%" in page


def test_moderation_decisions_go_through_the_flows_and_are_audited(
        app, console_login, csrf_of, held, world, audit_rows):
    incident, wish = held["虹桥小区"]
    secretary = console_login("demo-secretary")
    csrf = csrf_of(secretary, "/console/moderation")
    worker = world["users"]["demo-grid-worker"]
    done = secretary.post(f"/console/moderation/incidents/{incident}",
                          data={"csrf_token": csrf, "decision": "approve",
                                "assignee_id": str(worker)},
                          headers={"Referer": "http://localhost/console/moderation"})
    assert done.status_code == 302
    assert incident_status(app, incident) is S.DISPATCHED
    page = secretary.get("/console/moderation").text
    assert "已通过并派单" in page and incident not in ids(page, "incident")
    who, action, kind, target, before, after = audit_rows()[-1]
    assert (who, action, kind, target) == ("demo-secretary", "incident_approve", "incidents",
                                           incident)
    assert before["status"] == "pending_review" and before["assignee_id"] is None
    assert after == {**before, "status": "dispatched", "assignee_id": worker}

    # A wish rejected without a reason: the service's Chinese message, nothing changed.
    count = len(audit_rows())
    refused = secretary.post(f"/console/moderation/wishes/{wish}",
                             data={"csrf_token": csrf, "decision": "reject"},
                             headers={"Referer": "http://localhost/console/moderation"})
    assert refused.status_code == 302 and refused.headers["Location"] == "/console/moderation"
    assert "请说明不通过的原因" in secretary.get("/console/moderation").text
    assert wish_status(app, wish) is WishStatus.PENDING_REVIEW and len(audit_rows()) == count
    # A note longer than the API takes: its schema's message, nothing changed.
    secretary.post(f"/console/moderation/wishes/{wish}",
                   data={"csrf_token": csrf, "decision": "reject", "note": "长" * 301})
    assert "说明：" in secretary.get("/console/moderation").text
    assert wish_status(app, wish) is WishStatus.PENDING_REVIEW and len(audit_rows()) == count
    secretary.post(f"/console/moderation/wishes/{wish}",
                   data={"csrf_token": csrf, "decision": "reject", "note": "重复发布"})
    assert wish_status(app, wish) is WishStatus.REJECTED
    assert audit_rows()[-1][1:4] == ("wish_reject", "wishes", wish)
    assert audit_rows()[-1][5]["close_note"] == "重复发布"


def test_decisions_outside_the_scope_are_refused(app, console_login, csrf_of, held, audit_rows):
    incident, wish = held["盛世华城"]
    secretary = console_login("demo-secretary")  # of 虹桥小区
    csrf = csrf_of(secretary, "/console/moderation")
    count = len(audit_rows())
    for path, data in ((f"/console/moderation/incidents/{incident}", {"decision": "reject",
                                                                       "reason": "invalid"}),
                       (f"/console/moderation/wishes/{wish}", {"decision": "approve",
                                                               "check_method": "phone"})):
        response = secretary.post(path, data={"csrf_token": csrf, **data})
        assert response.status_code == 302
    assert incident_status(app, incident) is S.PENDING_REVIEW
    assert wish_status(app, wish) is WishStatus.PENDING_REVIEW
    assert len(audit_rows()) == count
    # A grid worker sees the queue but neither approves nor rejects (secretary and staff do).
    worker = console_login("demo-grid-worker")
    page = worker.get("/console/moderation").text
    assert "无审核权限" in page and "通过并派单" not in page
    hongqiao = held["虹桥小区"][0]
    worker.post(f"/console/moderation/incidents/{hongqiao}",
                data={"csrf_token": csrf_of(worker, "/console/moderation"),
                      "decision": "reject", "reason": "invalid"})
    assert incident_status(app, hongqiao) is S.PENDING_REVIEW
    assert "你不能对这条随手拍执行此操作" in worker.get("/console/moderation").text


def test_unconfirmed_wishes_and_the_secretarys_confirmation(app, console_login, csrf_of,
                                                            claimed_wish, audit_rows):
    from app.extensions import db
    wish_id = claimed_wish()

    def left_unconfirmed():
        db.session.execute(sa.update(Wish).where(Wish.id == wish_id).values(
            status=WishStatus.FULFILLED, fulfilled_at=utcnow(), unconfirmed_at=utcnow()))
        db.session.commit()
    in_app(app, left_unconfirmed)
    page = console_login("demo-secretary-2").get("/console/wishes").text
    assert wish_id not in ids(page, "wish")  # another compound's
    secretary = console_login("demo-secretary")
    page = secretary.get("/console/wishes").text
    assert wish_id in ids(page, "wish") and "确认完成" in page
    csrf = csrf_of(secretary, "/console/wishes")
    secretary.post(f"/console/wishes/{wish_id}/confirm", data={"csrf_token": csrf})
    assert "代为确认时请说明核实情况" in secretary.get("/console/wishes").text
    assert wish_status(app, wish_id) is WishStatus.FULFILLED
    secretary.post(f"/console/wishes/{wish_id}/confirm",
                   data={"csrf_token": csrf, "note": "已电话联系张阿姨，确认已送到"})
    assert wish_status(app, wish_id) is WishStatus.COMPLETED
    assert audit_rows()[-1][1] == "wish_confirm"
    assert audit_rows()[-1][5]["status"] == "completed"


def test_assets_come_from_the_app_and_errors_are_html(console_login, client):
    for path, size in (("/console/static/vendor/htmx-2.0.11.min.js", 40_000),
                       ("/console/static/vendor/chart-4.6.1.umd.min.js", 150_000),
                       ("/console/static/console.js", 500)):
        with client.get(path) as asset:  # public: the sign-in page needs htmx
            assert asset.status_code == 200 and len(asset.data) > size, path
    for path in ("/console/static/vendor/nothing.js", "/console/static/vendor"):
        missing = client.get(path)
        assert missing.status_code == 404 and missing.mimetype == "text/html"
        assert "页面不存在" in missing.text
    page = console_login("demo-staff").get("/console/")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "cdn" not in page.text.lower() and "//" not in page.text.replace("<!doctype", "")


def cell_of(page: str, key: str) -> str:
    return re.search(rf'data-k="{key}">([^<]*)<', page).group(1).strip()


def test_points_and_party_figures_follow_the_scope(console_login, world, points_history,
                                                   confirmed_member):
    confirmed_member()  # 刘党员, with no service logged this year: behind the bar
    community = world["community"]
    hongqiao, shengshi = world["compounds"]["虹桥小区"], world["compounds"]["盛世华城"]
    staff = console_login("demo-staff")
    whole = staff.get(f"/console/?scope=community:{community}").text
    assert cell_of(whole, "issued") == str(sum(points_history.values()))
    assert cell_of(whole, "spent") == "0"
    assert cell_of(whole, "members") == "1" and cell_of(whole, "behind") == "1"
    assert "刘党员" in whole
    own = console_login("demo-secretary").get(f"/console/?scope=compound:{hongqiao}").text
    assert cell_of(own, "issued") == str(sum(v for k, v in points_history.items()
                                             if k != "demo-resident-3"))
    assert "无权查看双报到名册" in own and "刘党员" not in own  # the roster is staff's
    other = console_login("demo-secretary-2").get(f"/console/?scope=compound:{shengshi}").text
    assert cell_of(other, "issued") == str(points_history["demo-resident-3"])
