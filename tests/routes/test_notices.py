"""三个公开 over HTTP: the draft's every number against data the test wrote, edit, publish
with the numbers frozen and every resident told once, publish twice, corrections and
versions, withdrawal, ISO weeks (2026-W53, 2027-W01, absurd weeks), and who may do what."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
import time_machine

from app import timeutil
from app.extensions import db
from app.models import (
    Household,
    HouseholdMembership,
    MembershipStatus,
    Notification,
    User,
    VerifiedBy,
)
from app.models.base import utcnow
from app.services.notices import printing, weeks
from tests.helpers import in_app

DAY = timedelta(days=1)


def last_week(now=None):
    year, week = weeks.last_week(now)
    return year, week, timeutil.week_bounds(year, week)[0]


def post_draft(client, headers, expect=201, **body) -> dict:
    response = client.post("/api/v1/notices/drafts", json=body, headers=headers)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def act(client, headers, path, expect=200, method="post", **body) -> dict:
    response = getattr(client, method)(f"/api/v1/notices{path}", json=body, headers=headers)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def broadcasts(app, notice_id) -> list[int]:
    return sorted(in_app(app, lambda: list(db.session.scalars(
        sa.select(Notification.user_id).where(
            Notification.template_key == "notice_published",
            Notification.dedupe_key.like(f"notice:{notice_id}:published:%"))))))


EXPECTED = {
    "incidents": {"received": "7", "responded_on_time": "4", "resolved_on_time": "3",
                  "overdue": "4", "escalated": "少于3", "open": "5"},
    "wishes": {"posted": "4", "claimed": "3", "completed": "少于3"},
    "visits": {"total": "5", "by_secretary": 3, "target": 3, "met": True},
    "party": {"members": "少于3", "hours": "4.0"},
    "canteen": {"served": "5", "ratings": "3", "rating": 4.3},
}


def test_the_draft_is_filled_from_the_weeks_data(app, client, world, people, week_data):
    year, week, since = last_week()
    written = week_data(since)
    hq = world["compounds"]["虹桥小区"]
    settings = client.put(f"/api/v1/compounds/{hq}/notice-settings", headers=people[
        "demo-secretary"], json={"station_address": "虹桥小区党群服务站（3号楼底商）",
                                 "station_hours": "周一至周五 9:00-17:00",
                                 "public_contact": "0350-5551234"})
    assert settings.status_code == 200, settings.get_json()
    draft = post_draft(client, people["demo-secretary"], compound_id=hq)
    assert draft["status"]["code"] == "draft" and draft["version"] == 1
    assert draft["week"] == weeks.name(year, week) and draft["iso_week"] == week
    figures = draft["figures"]
    for section, values in EXPECTED.items():
        for key, value in values.items():
            assert figures[section][key] == value, (section, key, figures[section][key])
    assert figures["secretary"] == {"names": ["周书记"], "contact": "0350-5551234",
                                    "station_address": "虹桥小区党群服务站（3号楼底商）",
                                    "station_hours": "周一至周五 9:00-17:00"}
    listed = figures["incidents"]["open_items"]
    assert len(listed) == 4  # 邻里纠纷 is private: counted, never listed
    assert listed[0]["since"] == timeutil.local(since - 3 * DAY).date().isoformat()
    assert {item["category"] for item in listed} == {"环境卫生"}
    assert written["before"]
    body = str(draft)
    for secret in ("13812345678", "张三", "张阿姨", "李师傅", "1单元", "101"):
        assert secret not in body, secret
    assert [s["key"] for s in draft["display"]] == [
        "secretary", "visits", "incidents", "wishes", "canteen", "party", "next_week"]
    assert draft["allowed_actions"] == ["edit", "publish"]

    again = post_draft(client, people["demo-secretary"], 200, compound_id=hq)
    assert again["id"] == draft["id"]


def test_edit_publish_freeze_and_tell_every_resident_once(app, client, world, people,
                                                          week_data, make_incident):
    _year, _week, since = last_week()
    week_data(since)
    hq = world["compounds"]["虹桥小区"]
    draft = post_draft(client, people["demo-secretary"], compound_id=hq)
    edited = act(client, people["demo-secretary"], f"/{draft['id']}", method="put",
                 sections={"next_week": "周六上午 义诊进小区", "incidents": "油烟问题已约谈商户"})
    assert edited["sections"] == {"next_week": "周六上午 义诊进小区",
                                  "incidents": "油烟问题已约谈商户"}
    assert edited["figures"]["incidents"]["received"] == "7"
    numbers = client.put(f"/api/v1/notices/{draft['id']}", headers=people["demo-secretary"],
                         json={"sections": {}, "snapshot": {"incidents": {"received": 0}}})
    assert numbers.status_code == 422
    unknown = client.put(f"/api/v1/notices/{draft['id']}", headers=people["demo-secretary"],
                         json={"sections": {"praise": "书记真好"}})
    assert unknown.status_code == 422
    # A pending (unverified) resident of 虹桥小区 is not told.
    def pending():
        user = User(openid="pending-one", nickname="新来的")
        db.session.add(user)
        db.session.flush()
        home = db.session.scalar(sa.select(Household.id).where(
            Household.building_id == world["buildings"][("虹桥小区", "2号楼")]))
        db.session.add(HouseholdMembership(user_id=user.id, household_id=home,
                                           status=MembershipStatus.PENDING,
                                           verified_by=VerifiedBy.GRID_WORKER))
        db.session.commit()
    in_app(app, pending)

    published = act(client, people["demo-secretary"], f"/{draft['id']}/publish")
    assert published["status"]["code"] == "published" and published["published_at"]
    users = world["users"]
    assert broadcasts(app, draft["id"]) == sorted(
        [users["demo-resident"], users["demo-resident-2"], users["demo-party-member"]])
    inbox = client.get("/api/v1/inbox", headers=people["demo-resident"]).get_json()
    assert any("发布了" in str(item) for item in inbox["items"])

    twice = act(client, people["demo-secretary"], f"/{draft['id']}/publish", 409)
    assert twice["code"] == "invalid_transition"
    assert len(broadcasts(app, draft["id"])) == 3
    assert act(client, people["demo-secretary"], f"/{draft['id']}", 409, method="put",
               sections={"next_week": "改"})["code"] == "invalid_transition"

    # Later data in the same week does not change the published numbers.
    for n in range(3):
        make_incident(created_at=since + 2 * DAY + n * timedelta(minutes=5))
    shown = client.get(f"/api/v1/notices/{draft['id']}", headers=people["demo-resident"])
    assert shown.status_code == 200
    assert shown.get_json()["figures"]["incidents"]["received"] == "7"
    listed = client.get("/api/v1/notices", query_string={"compound_id": hq},
                        headers=people["demo-resident"]).get_json()
    assert [n["id"] for n in listed["items"]] == [draft["id"]]


def test_a_correction_is_version_2_and_supersedes_version_1(app, client, world, people,
                                                            week_data):
    _year, _week, since = last_week()
    week_data(since)
    hq = world["compounds"]["虹桥小区"]
    first = post_draft(client, people["demo-secretary"], compound_id=hq)
    act(client, people["demo-secretary"], f"/{first['id']}/publish")
    assert post_draft(client, people["demo-secretary"], 409, compound_id=hq)["code"] == \
        "notice_already_published"
    assert act(client, people["demo-secretary"], f"/{first['id']}/corrections", 422,
               note=" ")["code"] == "validation_error"
    second = act(client, people["demo-secretary"], f"/{first['id']}/corrections", 201,
                 note="走访户数更正")
    assert second["version"] == 2 and second["corrects_id"] == first["id"]
    assert second["status"]["code"] == "draft" and "更正" in second["title"]
    same = act(client, people["demo-secretary"], f"/{first['id']}/corrections", 201,
               note="走访户数更正")
    assert same["id"] == second["id"]
    # Residents still see version 1 only until version 2 is published.
    assert client.get(f"/api/v1/notices/{second['id']}",
                      headers=people["demo-resident"]).status_code == 404
    act(client, people["demo-secretary"], f"/{second['id']}/publish")
    old = client.get(f"/api/v1/notices/{first['id']}", headers=people["demo-resident"]).get_json()
    assert old["status"]["code"] == "superseded"
    listed = client.get("/api/v1/notices", query_string={"compound_id": hq},
                        headers=people["demo-resident"]).get_json()
    assert [(n["version"], n["status"]["code"]) for n in listed["items"]] == [
        (2, "published"), (1, "superseded")]
    assert len(broadcasts(app, second["id"])) == 3
    assert act(client, people["demo-secretary"], f"/{first['id']}/publish", 409)["code"] == \
        "invalid_transition"
    # Version 1 said something that should never have been public: staff take it down too,
    # and version 2 stays up.
    gone = act(client, people["demo-staff"], f"/{first['id']}/withdraw", reason="旧版含个人信息")
    assert gone["status"]["code"] == "withdrawn"
    for path in (f"/api/v1/notices/{first['id']}", f"/notices/{first['id']}/print",
                 f"/notices/{first['id']}/text"):
        assert client.get(path, headers=people["demo-resident"]).status_code == 404, path
    listed = client.get("/api/v1/notices", query_string={"compound_id": hq},
                        headers=people["demo-resident"]).get_json()
    assert [(n["version"], n["status"]["code"]) for n in listed["items"]] == [(2, "published")]


def test_staff_withdraw_with_a_reason(app, client, world, people, visit_rules):
    hq = world["compounds"]["虹桥小区"]
    draft = post_draft(client, people["demo-secretary"], compound_id=hq)
    act(client, people["demo-secretary"], f"/{draft['id']}/publish")
    assert act(client, people["demo-secretary"], f"/{draft['id']}/withdraw", 403,
               reason="不想公开")["code"] == "forbidden"
    assert act(client, people["demo-staff"], f"/{draft['id']}/withdraw", 422)["code"] == \
        "validation_error"
    done = act(client, people["demo-staff"], f"/{draft['id']}/withdraw", reason="数据有误，核实后重发")
    assert done["status"]["code"] == "withdrawn"
    assert done["withdraw_reason"] == "数据有误，核实后重发"
    assert client.get(f"/api/v1/notices/{draft['id']}",
                      headers=people["demo-resident"]).status_code == 404
    assert client.get(f"/notices/{draft['id']}/print").status_code == 404
    # After a withdrawal the week can be drafted again, as version 2.
    again = post_draft(client, people["demo-secretary"], compound_id=hq)
    assert again["version"] == 2 and again["id"] != draft["id"]


def test_who_may_draft_and_read(app, client, world, people, visit_rules):
    hq, ss = world["compounds"]["虹桥小区"], world["compounds"]["盛世华城"]
    for openid in ("demo-resident", "demo-grid-worker", "demo-secretary-2", "demo-staff",
                   "demo-department"):
        assert post_draft(client, people[openid], 403, compound_id=hq)["code"] == "forbidden"
    assert post_draft(client, people["demo-secretary"], 404, compound_id=99999)["code"] == \
        "compound_not_found"
    draft = post_draft(client, people["demo-secretary"], compound_id=hq)
    for openid in ("demo-resident", "demo-secretary-2", "demo-resident-3", "demo-grid-worker"):
        assert client.get(f"/api/v1/notices/{draft['id']}",
                          headers=people[openid]).status_code == 404, openid
        assert act(client, people[openid], f"/{draft['id']}", 404, method="put",
                   sections={"next_week": "x"})["code"] == "notice_not_found"
        assert act(client, people[openid], f"/{draft['id']}/publish", 404)["code"] == \
            "notice_not_found"
    assert client.get(f"/api/v1/notices/{draft['id']}",
                      headers=people["demo-staff"]).status_code == 200
    assert act(client, people["demo-staff"], f"/{draft['id']}/publish", 403)["code"] == \
        "forbidden"
    assert client.get(f"/notices/{draft['id']}/print").status_code == 404  # a draft
    listed = client.get("/api/v1/notices", headers=people["demo-resident"]).get_json()
    assert listed["items"] == []  # the draft is not theirs to see
    mine = client.get("/api/v1/notices", query_string={"compound_id": hq},
                      headers=people["demo-secretary"]).get_json()
    assert [n["id"] for n in mine["items"]] == [draft["id"]]
    assert client.get("/api/v1/notices", headers=people["demo-staff"]).status_code == 422
    assert client.put(f"/api/v1/compounds/{ss}/notice-settings", json={"public_contact": "1"},
                      headers=people["demo-secretary"]).status_code == 403


def test_absurd_weeks_are_refused(app, client, world, people, visit_rules):
    hq = world["compounds"]["虹桥小区"]
    for week in ("2026-W54", "2025-W53", "2026-W00", "2026-53", "W53", "1999-W10",
                 "2026-W5", "２０２６-W01"):
        body = post_draft(client, people["demo-secretary"], 422, compound_id=hq, week=week)
        assert body["code"] in ("invalid_week", "validation_error"), week
    future = weeks.name(*timeutil.iso_week(utcnow() + 14 * DAY))
    assert post_draft(client, people["demo-secretary"], 422, compound_id=hq,
                      week=future)["code"] == "week_in_future"
    overview = client.get("/api/v1/notices/overview", headers=people["demo-staff"],
                          query_string={"community_id": world["community"],
                                        "week": "2026-W54"})
    assert overview.status_code == 422 and overview.get_json()["code"] == "invalid_week"


def test_week_53_and_week_1(app, client, world, auth, make_incident, visit_rules):
    # Tuesday 5 January 2027, 10:00 in Shanghai: last week is 2026-W53 (28 Dec - 3 Jan).
    moment = datetime(2027, 1, 5, 2, 0, tzinfo=timezone.utc)
    new_year_eve = datetime(2026, 12, 31, 12, 0, tzinfo=timezone.utc)  # 20:00 local
    sunday_late = datetime(2027, 1, 3, 15, 30, tzinfo=timezone.utc)  # 23:30 local, W53
    monday_early = datetime(2027, 1, 3, 16, 30, tzinfo=timezone.utc)  # 00:30 on 4 Jan, W01
    for at in (new_year_eve, sunday_late, monday_early):
        make_incident(created_at=at, status=__import__("app.models", fromlist=["x"])
                      .IncidentStatus.CLOSED)
    hq = world["compounds"]["虹桥小区"]
    with time_machine.travel(moment, tick=False):
        headers = auth("demo-secretary")
        w53 = post_draft(client, headers, compound_id=hq)
        w01 = post_draft(client, headers, compound_id=hq, week="2027-W01")
        explicit = post_draft(client, headers, 200, compound_id=hq, week="2026-W53")
    assert w53["week"] == "2026-W53" and explicit["id"] == w53["id"]
    assert "2026年第53周（12月28日—1月3日）" in w53["title"]
    assert w53["figures"]["week"] == {"year": 2026, "week": 53, "from": "2026-12-28",
                                      "to": "2027-01-03"}
    assert w53["figures"]["incidents"]["received"] == "少于3"
    assert w53["figures"]["incidents"]["open"] == "少于3"
    assert w01["week"] == "2027-W01" and w01["figures"]["week"]["from"] == "2027-01-04"
    assert "2027年第1周（1月4日—1月10日）" in w01["title"]


def test_staff_overview_of_who_published(app, client, world, people, visit_rules):
    hq = world["compounds"]["虹桥小区"]
    draft = post_draft(client, people["demo-secretary"], compound_id=hq)
    act(client, people["demo-secretary"], f"/{draft['id']}/publish")
    post_draft(client, people["demo-secretary-2"], compound_id=world["compounds"]["盛世华城"])
    body = client.get("/api/v1/notices/overview", headers=people["demo-staff"],
                      query_string={"community_id": world["community"]}).get_json()
    rows = {row["compound"]["name"]: row for row in body["items"]}
    assert body["week"] == draft["week"]
    assert rows["虹桥小区"]["published"] is True
    assert rows["盛世华城"]["published"] is False
    assert rows["盛世华城"]["notice"]["status"]["code"] == "draft"
    assert client.get("/api/v1/notices/overview", headers=people["demo-secretary"],
                      query_string={"community_id": world["community"]}).status_code == 403


def test_plain_text_and_pdf(app, client, world, people, week_data):
    _year, _week, since = last_week()
    week_data(since)
    hq = world["compounds"]["虹桥小区"]
    draft = post_draft(client, people["demo-secretary"], compound_id=hq)
    act(client, people["demo-secretary"], f"/{draft['id']}", method="put",
        sections={"next_week": "周六上午 义诊进小区"})
    act(client, people["demo-secretary"], f"/{draft['id']}/publish")
    text = client.get(f"/notices/{draft['id']}/text")
    assert text.status_code == 200 and text.mimetype == "text/plain"
    body = text.get_data(as_text=True)
    for heading in ("书记公开", "走访情况", "随手拍办理", "微心愿", "社区食堂", "双报到服务", "下周活动"):
        assert f"■ {heading}" in body
    assert "本周受理：7" in body and "周六上午 义诊进小区" in body
    assert "13812345678" not in body and "张阿姨" not in body
    # The PDF itself (its text, A4, no phone) is tests/routes/test_notices_print.py's.
    pdf = client.get(f"/notices/{draft['id']}/print.pdf")
    if printing.cjk_font():
        assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    else:  # no font covering Chinese here: a clear 503, never a 500
        assert pdf.status_code == 503 and pdf.get_json()["code"] == "pdf_unavailable"
