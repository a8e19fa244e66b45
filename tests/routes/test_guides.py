"""办事指南 over HTTP: staff keep the catalog, anyone signed in reads it, the match preview,
gaps and 人工 tickets (staff only)."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import BotTicket, GuideGap
from app.services.demo.guides import ENTRIES
from tests.helpers import in_app

ENTRY = {"title": "老年证办理", "synonyms": ["老人证", "老年优待证"],
         "answer": "年满60周岁的本市户籍老人可办理老年优待证。", "materials": "身份证、一寸照片",
         "hours": "周一至周五", "place": "便民服务大厅", "department": "社区老龄专干"}


def create(client, headers, **fields):
    return client.post("/api/v1/guides", headers=headers, json={**ENTRY, **fields})


def test_staff_create_read_update_delete(client, world, people):
    staff = people["demo-staff"]
    response = create(client, staff)
    assert response.status_code == 201, response.get_json()
    entry = response.get_json()
    assert entry["community_id"] == world["community"] and entry["synonyms"] == ["老人证", "老年优待证"]
    assert entry["updated_on"]  # today by default
    listed = client.get("/api/v1/guides", headers=people["demo-resident"]).get_json()
    assert [e["title"] for e in listed["items"]] == ["老年证办理"]
    response = client.put(f"/api/v1/guides/{entry['id']}", headers=staff,
                          json={**ENTRY, "answer": "新的答复内容", "updated_on": "2026-11-30"})
    assert response.status_code == 200 and response.get_json()["answer"] == "新的答复内容"
    assert response.get_json()["updated_on"] == "2026-11-30"
    assert client.delete(f"/api/v1/guides/{entry['id']}", headers=staff).status_code == 204
    assert client.get("/api/v1/guides", headers=people["demo-resident"]).get_json()["items"] == []
    gone = client.get(f"/api/v1/guides/{entry['id']}", headers=people["demo-resident"])
    assert gone.status_code == 404 and gone.get_json()["code"] == "guide_not_found"
    mine = client.get("/api/v1/guides?include_inactive=true", headers=staff).get_json()
    assert [e["active"] for e in mine["items"]] == [False]


def test_residents_grid_workers_and_strangers_may_not_write(client, world, people):
    for who in ("demo-resident", "demo-grid-worker", "demo-secretary", "demo-department"):
        response = create(client, people[who], community_id=world["community"])
        assert response.status_code == 403, who
        assert response.get_json()["code"] == "forbidden"
    entry = create(client, people["demo-staff"]).get_json()
    response = client.put(f"/api/v1/guides/{entry['id']}", headers=people["demo-resident"], json=ENTRY)
    assert response.status_code == 403
    assert client.delete(f"/api/v1/guides/{entry['id']}",
                         headers=people["demo-resident"]).status_code == 403
    assert client.get("/api/v1/guides").status_code == 401


def test_admin_writes_anywhere_with_a_community(client, world, people):
    response = create(client, people["demo-admin"], community_id=world["community"])
    assert response.status_code == 201
    response = create(client, people["demo-admin"], title="另一条")  # admin lives nowhere
    assert response.status_code == 422 and response.get_json()["code"] == "community_required"


def test_bad_input_is_422_and_a_taken_title_409(client, world, people):
    staff = people["demo-staff"]
    assert create(client, staff).status_code == 201
    taken = create(client, staff)
    assert taken.status_code == 409 and taken.get_json()["code"] == "guide_title_taken"
    for bad in ({"title": ""}, {"answer": " "}, {"synonyms": "老人证"}, {"title": "x" * 61},
                {"updated_on": "1999-01-01"}, {"synonyms": ["ok", "\u0007bell"]}):
        response = create(client, staff, **{**bad, "title": bad.get("title", "新条目")})
        assert response.status_code == 422, bad
        assert response.get_json()["message"]
    assert len(client.get("/api/v1/guides", headers=staff).get_json()["items"]) == 1


def test_match_preview(client, world, people):
    for title, synonyms, answer, materials, hours, place, department in ENTRIES[:10]:
        create(client, people["demo-staff"], title=title, synonyms=synonyms, answer=answer,
               materials=materials, hours=hours, place=place, department=department)
    found = client.get("/api/v1/guides/match?q=我妈的老年证在哪里办",
                       headers=people["demo-resident"]).get_json()
    assert found["kind"] == "confident" and found["items"][0]["title"] == "老年证办理"
    none = client.get("/api/v1/guides/match?q=明天天气怎么样", headers=people["demo-resident"]).get_json()
    assert none["kind"] == "none"


def test_gaps_and_tickets_are_staffs_only(app, client, world, people):
    def work():
        db.session.add(GuideGap(community_id=world["community"], question="暖气费怎么交",
                                score=0.1, resolved=False))
        db.session.add(BotTicket(openid="mp-x", community_id=world["community"],
                                 question="暖气不热找谁", delivered=False))
        db.session.commit()
    in_app(app, work)
    gaps = client.get("/api/v1/guides/gaps", headers=people["demo-staff"]).get_json()
    assert [g["question"] for g in gaps["items"]] == ["暖气费怎么交"]
    tickets = client.get("/api/v1/guides/tickets?status=open", headers=people["demo-staff"]).get_json()
    assert [t["question"] for t in tickets["items"]] == ["暖气不热找谁"]
    assert tickets["items"][0]["bound"] is False
    for who in ("demo-resident", "demo-grid-worker"):
        assert client.get("/api/v1/guides/gaps", headers=people[who]).status_code in (403, 422)
        assert client.get("/api/v1/guides/tickets", headers=people[who]).status_code in (403, 422)
    ticket_id = tickets["items"][0]["id"]
    response = client.post(f"/api/v1/guides/tickets/{ticket_id}/answer",
                           headers=people["demo-resident"], json={"answer": "我来答"})
    assert response.status_code == 404 and response.get_json()["code"] == "ticket_not_found"
    first = client.post(f"/api/v1/guides/tickets/{ticket_id}/answer", headers=people["demo-staff"],
                        json={"answer": "请拨打 12345"})
    assert first.status_code == 200 and first.get_json()["status"]["code"] == "answered"
    again = client.post(f"/api/v1/guides/tickets/{ticket_id}/answer", headers=people["demo-staff"],
                        json={"answer": "再答一次"})
    assert again.status_code == 409 and again.get_json()["code"] == "ticket_already_answered"
    stored = in_app(app, lambda: db.session.scalar(sa.select(BotTicket)))
    assert stored.answer == "请拨打 12345" and not stored.delivered  # unbound: at the next message
    gap_id = gaps["items"][0]["id"]
    for who in ("demo-resident", "demo-grid-worker", "demo-secretary"):  # 404: not theirs
        refused = client.post(f"/api/v1/guides/gaps/{gap_id}/resolve", headers=people[who])
        assert refused.status_code == 404 and refused.get_json()["code"] == "gap_not_found"
    done = client.post(f"/api/v1/guides/gaps/{gap_id}/resolve", headers=people["demo-staff"])
    assert done.status_code == 200 and done.get_json()["resolved"] is True
    again = client.post(f"/api/v1/guides/gaps/{gap_id}/resolve", headers=people["demo-staff"])
    assert again.status_code == 409 and again.get_json()["code"] == "gap_already_resolved"
    assert client.get("/api/v1/guides/gaps", headers=people["demo-staff"]).get_json()["items"] == []


def test_staff_export_the_catalog_as_xlsx(client, world, people):
    import io

    from openpyxl import load_workbook

    create(client, people["demo-staff"])
    create(client, people["demo-staff"], title="=HYPERLINK(\"http://x\")", synonyms=["公式"])
    response = client.get("/api/v1/guides.xlsx", headers=people["demo-staff"])
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.values)
    assert rows[0][:3] == ("标题", "同义问法", "答复")
    assert rows[1][:2] == ("老年证办理", "老人证；老年优待证") and rows[1][-1] == "在用"
    assert sheet.cell(row=3, column=1).data_type == "s"  # text, never a formula
    refused = client.get("/api/v1/guides.xlsx", headers=people["demo-resident"])
    assert refused.status_code == 403
