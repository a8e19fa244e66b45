"""The five-step loop over HTTP with the real wechatpy client and the sandbox, and every
forbidden move answering in the envelope."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.models import Incident, IncidentFollower, Notification
from app.models.base import utcnow
from app.services.notifications import dispatch


def notified(user_id: int, template_key: str) -> list[dict]:
    db.session.expire_all()
    rows = db.session.scalars(sa.select(Notification).where(
        Notification.user_id == user_id, Notification.template_key == template_key)
        .order_by(Notification.id)).all()
    db.session.commit()
    return [r.payload for r in rows]


def test_report_dispatch_accept_resolve_confirm(client, world, people, report, act, photo, ctx):
    users = world["users"]
    created = report()
    assert created["status"]["code"] == "dispatched"
    assert created["assignee"]["id"] == users["demo-grid-worker"]
    assert [e["action"] for e in created["timeline"]] == ["report", "dispatch"]
    assert len(created["photos"]) == 1 and created["photos"][0]["url"]
    incident_id = created["id"]
    assert notified(users["demo-grid-worker"], "incident_task")[0]["incident_id"] == incident_id

    accepted = act("demo-grid-worker", incident_id, "accept")
    assert accepted["status"]["code"] == "accepted" and accepted["responded_at"]
    assert notified(users["demo-resident"], "incident_update")[0]["status"] == "已接单"
    act("demo-grid-worker", incident_id, "start")
    no_photo = act("demo-grid-worker", incident_id, "resolve", expect=422, note="已清运")
    assert no_photo["errors"]["json"]["photo_ids"] == ["请上传至少一张处理后的照片"]
    resolved = act("demo-grid-worker", incident_id, "resolve", note="已清运",
                   photo_ids=[photo(people["demo-grid-worker"])])
    assert resolved["status"]["code"] == "resolved"
    assert resolved["timeline"][-1]["photos"][0]["url"]
    closed = act("demo-resident", incident_id, "confirm", rating=5)
    assert closed["status"]["code"] == "closed" and closed["rating"] == 5
    assert closed["closed"] == {"code": "confirmed", "name": "居民确认解决"}
    assert [e["action"] for e in closed["timeline"]] == [
        "report", "dispatch", "accept", "start", "resolve", "confirm"]
    # 群众评单 earns the reporter points, once.
    ledger = client.get("/api/v1/points", headers=people["demo-resident"]).get_json()
    confirmed = [e for e in ledger["items"] if e["rule"]["code"] == "incident_confirmed"
                 and e.get("ref") == f"incident:{incident_id}"]
    assert len(confirmed) == 1 and confirmed[0]["amount"] > 0
    # The reporter's inbox tells the story in Chinese.
    dispatch.drain()
    inbox = client.get("/api/v1/inbox", headers=people["demo-resident"]).get_json()["items"]
    assert {i["title"] for i in inbox} == {"随手拍进展", "积分到账"}  # and the points earned
    assert any("已办结" in i["text"] for i in inbox)


def test_forbidden_moves(client, world, people, report, act):
    incident_id = report()["id"]
    # Wrong role (can see it, may not do it) -> 403
    assert act("demo-resident-2", incident_id, "accept", expect=403)["code"] == "forbidden"
    assert act("demo-secretary", incident_id, "accept", expect=403)["code"] == "forbidden"
    assert act("demo-resident", incident_id, "reject", expect=403,
               reason="invalid")["code"] == "forbidden"
    # Wrong state -> 409
    wrong = act("demo-resident", incident_id, "confirm", expect=409)
    assert wrong["code"] == "invalid_transition" and "已派单" in wrong["message"]
    # Not theirs to see -> 404 (another compound, another grid)
    for outsider in ("demo-resident-3", "demo-grid-worker-2", "demo-secretary-2"):
        assert client.get(f"/api/v1/incidents/{incident_id}",
                          headers=people[outsider]).status_code == 404
        assert act(outsider, incident_id, "accept", expect=404)["code"] == "incident_not_found"
    # Unknown action -> 422
    assert act("demo-grid-worker", incident_id, "teleport", expect=422)["code"] == \
        "validation_error"


def test_private_category_is_404_for_neighbours_and_absent_from_public(client, people, report):
    private = report(category="dispute", description="楼上漏水到我家")["id"]
    assert client.get(f"/api/v1/incidents/{private}",
                      headers=people["demo-resident-2"]).status_code == 404
    public = client.get("/api/v1/incidents?scope=public&limit=100",
                        headers=people["demo-resident-2"]).get_json()["items"]
    assert private not in [i["id"] for i in public]
    assert client.get(f"/api/v1/incidents/{private}",
                      headers=people["demo-grid-worker"]).status_code == 200


def test_public_view_masks_the_reporter(client, people, report, act):
    incident_id = report()["id"]
    act("demo-grid-worker", incident_id, "accept")
    seen = client.get(f"/api/v1/incidents/{incident_id}",
                      headers=people["demo-resident-2"]).get_json()
    assert seen["public_view"] is True
    assert seen["reporter"] == {"name": "1号楼住户"}
    assert seen["assignee"] is None
    assert all("actor" not in e and "note" not in e for e in seen["timeline"])
    assert "张阿姨" not in str(seen)


def test_public_viewers_see_the_reports_photos_only(client, people, report, act, photo):
    created = report()
    act("demo-grid-worker", created["id"], "accept")
    proof = photo(people["demo-grid-worker"])
    act("demo-grid-worker", created["id"], "resolve", note="已清运", photo_ids=[proof])
    neighbour, handler = people["demo-resident-2"], people["demo-grid-worker"]
    assert client.get(f"/api/v1/uploads/{created['photos'][0]['id']}",
                      headers=neighbour).status_code == 200
    refused = client.get(f"/api/v1/uploads/{proof}", headers=neighbour)
    assert refused.status_code == 404 and refused.get_json()["code"] == "upload_not_found"
    assert client.get(f"/api/v1/uploads/{proof}", headers=people["demo-resident"]).status_code \
        == 200  # the reporter sees the proof
    assert client.get(f"/api/v1/uploads/{proof}", headers=handler).status_code == 200


def test_anonymous_report_hides_the_reporter_from_handlers(client, people, report):
    incident_id = report(anonymous=True)["id"]
    seen = client.get(f"/api/v1/incidents/{incident_id}",
                      headers=people["demo-grid-worker"]).get_json()
    assert seen["reporter"] == {"name": "匿名居民"}
    assert seen["timeline"][0]["actor"] == "匿名居民" and "张阿姨" not in str(seen)
    own = client.get(f"/api/v1/incidents/{incident_id}", headers=people["demo-resident"])
    assert own.get_json()["reporter"]["name"] == "张阿姨"
    refused = report(expect=422, anonymous=True, category="dispute")
    assert refused["code"] == "anonymous_not_allowed"


def test_escalate_to_department_which_accepts_and_resolves(world, people, report, act, photo,
                                                           ctx):
    incident_id = report()["id"]
    act("demo-grid-worker", incident_id, "accept")
    missing = act("demo-grid-worker", incident_id, "escalate", expect=422,
                  department_id=world["departments"]["城管"])
    assert missing["errors"]["json"]["note"] == ["请说明上报原因"]
    escalated = act("demo-grid-worker", incident_id, "escalate", note="需要执法",
                    department_id=world["departments"]["城管"])
    assert escalated["status"]["code"] == "escalated" and escalated["responded_at"] is None
    assert notified(world["users"]["demo-department"], "incident_task")
    # it is the department's now
    assert act("demo-grid-worker", incident_id, "accept", expect=403)["code"] == "forbidden"
    act("demo-department", incident_id, "accept")
    done = act("demo-department", incident_id, "resolve", note="已执法",
               photo_ids=[photo(people["demo-department"])])
    assert done["status"]["code"] == "resolved"


def test_reopen_returns_to_the_same_assignee_and_keeps_deadlines(people, report, act, photo):
    created = report()
    incident_id = created["id"]
    act("demo-grid-worker", incident_id, "accept")
    act("demo-grid-worker", incident_id, "resolve", note="好了",
        photo_ids=[photo(people["demo-grid-worker"])])
    assert act("demo-resident", incident_id, "reopen", expect=422)["code"] == "validation_error"
    reopened = act("demo-resident", incident_id, "reopen", note="还是满的")
    assert reopened["status"]["code"] == "dispatched"
    assert reopened["assignee"]["id"] == created["assignee"]["id"]
    assert (reopened["respond_by"], reopened["resolve_by"]) == \
        (created["respond_by"], created["resolve_by"])
    act("demo-grid-worker", incident_id, "accept")
    act("demo-grid-worker", incident_id, "resolve", note="彻底清运",
        photo_ids=[photo(people["demo-grid-worker"])])
    with time_machine.travel(utcnow() + timedelta(hours=73)):
        late = act("demo-resident", incident_id, "reopen", expect=409, note="又满了")
    assert late["code"] == "reopen_window_passed"


def test_reject_is_shown_honestly_never_as_fixed(client, people, report, act):
    incident_id = report()["id"]
    no_reason = act("demo-staff", incident_id, "reject", expect=422)
    assert no_reason["errors"]["json"]["reason"] == ["请选择不予受理的原因"]
    rejected = act("demo-staff", incident_id, "reject", reason="not_responsible",
                   note="已转交供电公司")
    assert rejected["status"] == {"code": "rejected", "name": "不予受理"}
    assert rejected["closed"] == {"code": "not_responsible", "name": "不属于社区职责，已转交"}
    mine = client.get("/api/v1/incidents?scope=mine", headers=people["demo-resident"]).get_json()
    entry = next(i for i in mine["items"] if i["id"] == incident_id)
    assert entry["status"]["code"] == "rejected" and entry["resolved_at"] is None


def test_me_too_and_merging_a_duplicate_carries_followers(world, people, report, act, ctx):
    original = report()["id"]
    followed = act("demo-resident-2", original, "follow")
    assert followed["follower_count"] == 1
    assert act("demo-resident-2", original, "follow", expect=409)["code"] == "already_following"
    assert act("demo-resident", original, "follow", expect=403)["code"] == "forbidden"
    duplicate = report(openid="demo-party-member")["id"]
    act("demo-resident-2", duplicate, "follow")
    act("demo-staff", duplicate, "reject", reason="duplicate", duplicate_of=original)
    followers = set(db.session.scalars(sa.select(IncidentFollower.user_id).where(
        IncidentFollower.incident_id == original)))
    assert followers == {world["users"]["demo-resident-2"], world["users"]["demo-party-member"]}
    assert db.session.get(Incident, original).follower_count == 2
    db.session.commit()


def test_reassign_by_secretary_to_a_community_grid_worker_only(world, report, act):
    incident_id = report()["id"]
    bad = act("demo-secretary", incident_id, "reassign", expect=422,
              assignee_id=world["users"]["demo-resident-2"])
    assert bad["code"] == "invalid_assignee"
    moved = act("demo-secretary", incident_id, "reassign",
                assignee_id=world["users"]["demo-grid-worker-2"])
    assert moved["assignee"]["id"] == world["users"]["demo-grid-worker-2"]
    assert act("demo-grid-worker-2", incident_id, "accept")["status"]["code"] == "accepted"


def test_risky_text_is_refused_and_review_text_is_held(client, world, people, report, act, ctx):
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Incident))
    db.session.commit()
    risky = report(expect=422, description="这里有违禁内容")
    assert risky["code"] == "content_risky"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) == before
    db.session.commit()
    held = report(description="这条需要待审")
    assert held["status"]["code"] == "pending_review" and held["assignee"] is None
    queue = client.get("/api/v1/incidents?scope=compound&status=pending_review",
                       headers=people["demo-staff"]).get_json()["items"]
    assert held["id"] in [i["id"] for i in queue]
    approved = act("demo-staff", held["id"], "reassign",
                   assignee_id=world["users"]["demo-grid-worker"])
    assert approved["status"]["code"] == "dispatched"


def test_bad_reports_change_nothing(client, world, people, photo, report, ctx):
    others = photo(people["demo-resident-2"])
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Incident))
    db.session.commit()
    assert report(expect=422, photo_ids=[others])["code"] == "invalid_photos"
    assert report(expect=422, category="nonsense")["code"] == "unknown_category"
    assert report(expect=422, description="x" * 501)["code"] == "validation_error"
    assert report(expect=422, photo_ids=list(range(1, 11)))["code"] == "validation_error"
    assert report(expect=404, building_id=99999)["code"] == "building_not_found"
    assert report(expect=422, lat=91)["code"] == "validation_error"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) == before


def test_idempotent_report(client, world, categories, people, photo):
    body = {"category": "environment", "description": "重复提交测试",
            "photo_ids": [photo(people["demo-resident"])]}
    headers = {**people["demo-resident"], "Idempotency-Key": "report-1"}
    first = client.post("/api/v1/incidents", headers=headers, json=body)
    again = client.post("/api/v1/incidents", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert first.get_json()["id"] == again.get_json()["id"]
