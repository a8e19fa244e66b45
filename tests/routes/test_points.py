"""`GET /points`, staff adjustments, the ranking preference and `GET /points/rankings`."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import IncidentStatus, LedgerEntry, Notification, PointsRule
from app.services.notifications import dispatch
from app.services.points import ledger as points
from tests.fixtures.points import balance, count, give, other_community_staff
from tests.helpers import counting_queries, in_app
from tests.routes.test_errors import assert_envelope


def test_new_user_has_nothing_yet(client, auth):
    body = client.get("/api/v1/points", headers=auth("newcomer")).get_json()
    assert body == {"balance": 0, "ranking_public": True, "items": [], "next_cursor": None}


def test_balance_and_ledger_newest_first_with_reasons(app, client, auth, world,
                                                      points_history):
    headers = auth("demo-resident")
    uid = world["users"]["demo-resident"]

    def history():
        points.award(uid, PointsRule.WISH_FULFILLED, 41, note="帮王奶奶买菜")
        points.spend(uid, PointsRule.CANTEEN_BOOKING, 42)
        db.session.commit()
    in_app(app, history)
    body = client.get("/api/v1/points?limit=2", headers=headers).get_json()
    # The points history gave 张阿姨 2 x 10 (incidents) + 8 h x 5 (volunteering) = 60.
    assert body["balance"] == 60 + 20 - 10
    first, second = body["items"]
    assert (first["amount"], first["balance_after"], first["rule"]) == (
        -10, 70, {"code": "canteen_booking", "name": "食堂订餐（积分支付）"})
    assert first["description"] == "食堂订餐（积分支付）" and first["ref"] == "booking:42"
    assert second["description"] == "完成微心愿：帮王奶奶买菜"
    rest = client.get(f"/api/v1/points?limit=50&cursor={body['next_cursor']}",
                      headers=headers).get_json()
    assert [e["amount"] for e in rest["items"]] == [40, 10, 10]
    assert rest["next_cursor"] is None
    assert_envelope(client.get("/api/v1/points?cursor=@@", headers=headers), 422,
                    "invalid_cursor")


def test_staff_adjusts_a_resident_of_their_community(app, client, auth, world,
                                                      points_history):
    uid = world["users"]["demo-resident-3"]
    headers = {**auth("demo-staff"), "Idempotency-Key": "adj-1"}
    body = {"user_id": uid, "amount": 15, "reason": "协助组织义诊活动"}
    first = client.post("/api/v1/points/adjustments", headers=headers, json=body)
    assert first.status_code == 201, first.get_json()
    result = first.get_json()
    assert result["balance"] == 20 + 15  # the history's wish + this
    assert result["entry"]["description"] == "工作人员调整：协助组织义诊活动"
    replay = client.post("/api/v1/points/adjustments", headers=headers, json=body)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.get_json() == result and balance(app, uid) == 35

    def audit():
        entry = db.session.scalar(sa.select(LedgerEntry).where(
            LedgerEntry.rule == PointsRule.ADJUSTMENT))
        note = db.session.scalar(sa.select(Notification).where(Notification.user_id == uid))
        return entry.actor_id, entry.note, note.template_key
    staff_id = world["users"]["demo-staff"]
    assert in_app(app, audit) == (staff_id, "协助组织义诊活动", "points_adjusted")
    deduct = client.post("/api/v1/points/adjustments", headers=auth("demo-staff"),
                         json={"user_id": uid, "amount": -35, "reason": "重复登记，扣回"})
    assert deduct.status_code == 201 and deduct.get_json()["balance"] == 0


def test_adjustment_refusals(app, client, auth, world, points_history):
    uid = world["users"]["demo-resident"]
    staff = auth("demo-staff")
    before = count(app, LedgerEntry)

    def post(headers, **body):
        return client.post("/api/v1/points/adjustments", headers=headers,
                           json={"user_id": uid, "amount": 5, "reason": "原因", **body})

    assert_envelope(post(staff, reason=None), 422, "validation_error")
    assert_envelope(post(staff, reason=""), 422, "validation_error")
    assert_envelope(post(staff, reason="   "), 422, "reason_required")
    assert_envelope(post(staff, amount=0), 422, "validation_error")
    assert_envelope(post(staff, amount="5"), 422, "validation_error")
    assert_envelope(post(staff, amount=10 ** 9), 422, "validation_error")
    assert_envelope(post(staff, amount=-61), 409, "insufficient_points")
    assert_envelope(post(staff, user_id=999999), 404, "user_not_found")
    assert_envelope(post(auth("demo-resident-2")), 403, "not_staff_of_community")
    assert_envelope(post(auth("demo-secretary")), 403, "not_staff_of_community")
    staff_self = {"user_id": world["users"]["demo-staff"]}
    assert_envelope(post(staff, **staff_self), 403, "self_adjustment")
    auth("other-staff")
    other_community_staff(app)
    assert_envelope(post(auth("other-staff")), 403, "not_staff_of_community")
    assert count(app, LedgerEntry) == before
    assert post(auth("demo-admin")).status_code == 201  # admin acts everywhere


def test_ranking_preference_masks_my_name(app, client, auth, world, points_history):
    headers = auth("demo-resident")
    hidden = client.put("/api/v1/points/preferences", headers=headers,
                        json={"ranking_public": False})
    assert hidden.status_code == 200 and hidden.get_json() == {"ranking_public": False}
    assert client.get("/api/v1/points", headers=headers).get_json()["ranking_public"] is False
    viewer = auth("demo-party-member")
    ranking = client.get("/api/v1/points/rankings", headers=viewer).get_json()
    names = {i["name"] for i in ranking["items"]}
    # This month: 刘党员 63 + 40, 张阿姨 60 (now hidden), 李师傅 10 (hidden in the history).
    assert [(i["name"], i["points"], i["is_me"]) for i in ranking["items"]] == [
        ("刘党员", 103, True), ("张**", 60, False), ("李**", 10, False)]
    assert "张阿姨" not in names
    # I still see my own name.
    mine = client.get("/api/v1/points/rankings", headers=headers).get_json()
    assert mine["items"][1] == {"rank": 2, "name": "张阿姨", "points": 60, "masked": True,
                                "is_me": True}
    assert_envelope(client.put("/api/v1/points/preferences", headers=headers, json={}),
                    422, "validation_error")


def test_rankings_scope_and_bad_input(client, auth, world, points_history):
    viewer = auth("demo-resident")
    hq, ss = world["compounds"]["虹桥小区"], world["compounds"]["盛世华城"]
    other = client.get(f"/api/v1/points/rankings?period=month&compound_id={ss}",
                       headers=viewer).get_json()
    assert other["scope"]["name"] == "盛世华城"
    assert [(i["name"], i["points"]) for i in other["items"]] == [("王大姐", 20)]
    community = client.get(f"/api/v1/points/rankings?community_id={world['community']}&limit=2",
                           headers=viewer).get_json()
    assert community["scope"]["kind"] == "community" and len(community["items"]) == 2
    assert client.get(f"/api/v1/points/rankings?compound_id={hq}&month=2020-01",
                      headers=viewer).get_json()["items"] == []
    for query, status, code in [("period=year", 422, "validation_error"),
                                ("month=2026-13", 422, "validation_error"),
                                ("month=abc", 422, "validation_error"),
                                ("month=0000-01", 422, "validation_error"),
                                ("month=9999-12", 422, "validation_error"),
                                ("limit=0", 422, "validation_error"),
                                ("compound_id=999999", 404, "scope_not_found")]:
        assert_envelope(client.get(f"/api/v1/points/rankings?{query}", headers=viewer),
                        status, code)
    # Someone without a home must say which compound.
    assert_envelope(client.get("/api/v1/points/rankings", headers=auth("demo-staff")), 422,
                    "ranking_scope_required")
    assert client.get("/api/v1/points/rankings").status_code == 401


def test_unauthenticated_points_calls_are_401(client):
    for method, path in [("get", "/api/v1/points"), ("post", "/api/v1/points/adjustments"),
                         ("put", "/api/v1/points/preferences")]:
        assert_envelope(getattr(client, method)(path, json={}), 401, "missing_token")


def test_given_points_show_in_the_balance(app, client, auth, world, points_history):
    give(app, world["users"]["demo-resident-3"], 5)
    body = client.get("/api/v1/points", headers=auth("demo-resident-3")).get_json()
    assert body["balance"] == 25


# --- earning tells the person, every entry says what it was for -------------------------

def test_a_confirmed_incident_earns_points_and_says_so(app, client, world, people, report,
                                                      act, photo, sent):
    headers = people["demo-resident"]
    # 张阿姨 accepted the points message in wx.requestSubscribeMessage once.
    assert client.post("/api/v1/subscriptions", headers=headers,
                       json={"template_keys": ["points_earned"]}).status_code == 200
    incident = report(description="3号楼路灯不亮，晚上出行不便")
    for action in ("accept", "start"):
        act("demo-grid-worker", incident["id"], action)
    act("demo-grid-worker", incident["id"], "resolve", note="已更换灯泡",
        photo_ids=[photo(people["demo-grid-worker"])])
    act("demo-resident", incident["id"], "confirm")
    entry = client.get("/api/v1/points", headers=headers).get_json()["items"][0]
    assert entry["ref"] == f"incident:{incident['id']}"
    assert entry["description"] == "随手拍问题经确认：3号楼路灯不亮，晚上出行不便"
    # The inbox says it in full; the subscribe message within WeChat's limits.
    inbox = client.get("/api/v1/inbox", headers=headers).get_json()["items"]
    earned = [i for i in inbox if i["template_key"] == "points_earned"]
    assert [(i["title"], i["text"], i["page"]) for i in earned] == [(
        "积分到账", "随手拍问题经确认：3号楼路灯不亮，晚上出行不便，获得 10 积分，当前余额 10 积分。",
        "pages/points/index")]
    in_app(app, dispatch.drain)
    messages = [m["body"] for m in sent("subscribe")
                if m["body"]["template_id"] == "sandbox-points_earned"]
    assert len(messages) == 1
    assert messages[0]["touser"] == "demo-resident"
    data = messages[0]["data"]
    assert data["thing1"]["value"] == "随手拍问题经确认：3号楼路灯不亮，晚上…"  # WeChat's 20
    assert (data["number2"]["value"], data["number3"]["value"]) == ("10", "10")


def test_an_award_tells_once_per_entry_and_spending_tells_nothing(app, world):
    uid = world["users"]["demo-resident-3"]

    def work():
        first = points.award(uid, PointsRule.WISH_FULFILLED, 7, note="帮邻居修水管")
        again = points.award(uid, PointsRule.WISH_FULFILLED, 7, note="帮邻居修水管")
        points.spend(uid, PointsRule.CANTEEN_BOOKING, 8)
        db.session.commit()
        rows = db.session.scalars(sa.select(Notification).where(
            Notification.user_id == uid)).all()
        return (first[0].id, first[1], again[0].id, again[1],
                [(n.template_key, n.dedupe_key, n.payload["reason"], n.payload["points"])
                 for n in rows])
    first_id, first_created, again_id, again_created, rows = in_app(app, work)
    assert (first_created, again_created, again_id) == (True, False, first_id)
    assert rows == [("points_earned", f"points:earned:{first_id}", "完成微心愿：帮邻居修水管", 20)]


def test_the_ledger_describes_references_with_one_query_a_page(app, client, world, auth,
                                                               make_incident):
    uid = world["users"]["demo-resident"]
    headers = auth("demo-resident")
    descriptions = ["3号楼路灯不亮", "单元门禁坏了" + "很久" * 30, "井盖松动"]

    def award(ids):
        for incident_id in ids:
            points.award(uid, PointsRule.INCIDENT_CONFIRMED, incident_id)
        db.session.commit()

    def queries_for_page() -> int:
        with counting_queries(app) as statements:
            assert client.get("/api/v1/points", headers=headers).status_code == 200
        return len(statements)

    ids = [make_incident(description=d, status=IncidentStatus.CLOSED) for d in descriptions]
    in_app(app, lambda: award(ids[:1]))
    one = queries_for_page()
    in_app(app, lambda: award(ids[1:]))
    assert queries_for_page() == one  # three entries, the same queries
    items = client.get("/api/v1/points", headers=headers).get_json()["items"]
    assert [e["description"] for e in items] == [
        "随手拍问题经确认：井盖松动",
        "随手拍问题经确认：单元门禁坏了" + "很久" * 16 + "很…",  # 40 characters of detail
        "随手拍问题经确认：3号楼路灯不亮"]
