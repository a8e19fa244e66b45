"""微心愿 over HTTP with the real wechatpy client and the sandbox: the whole loop, every
transition and every refusal (403 wrong role, 404 not visible, 409 wrong state, 422 bad
input or risky text), posting for a household, limits, the lists, and points once."""
from __future__ import annotations

import json

import sqlalchemy as sa

from app.extensions import db
from app.models import CareTag, HouseholdTag, User, Wish, WishEvent, WishKeys
from tests.fixtures.visits import household
from tests.fixtures.wishes import WISH, keys_kept, ledger_entries, notified, wish_row
from tests.helpers import counting_queries, in_app


def events(app, wish_id: int) -> list[tuple[str, int | None]]:
    return in_app(app, lambda: db.session.execute(
        sa.select(WishEvent.action, WishEvent.actor_id).where(WishEvent.wish_id == wish_id)
        .order_by(WishEvent.id)).all())


def count_wishes(app) -> int:
    return in_app(app, lambda: db.session.scalar(sa.select(sa.func.count()).select_from(Wish)))


def test_post_approve_claim_fulfil_confirm(app, client, world, people, wish_post, wish_act,
                                           photo):
    users = world["users"]
    created = wish_post(campaign="重阳节")
    wish_id = created["id"]
    assert created["status"] == {"code": "pending_review", "name": "待审核"}
    assert created["requester"] == {"id": users["demo-resident"], "name": "张阿姨"}
    assert created["points"] == 20 and created["campaign"] == "重阳节"
    assert created["allowed_actions"] == ["cancel"] and len(created["photos"]) == 1
    [review] = notified(app, users["demo-secretary"], "wish_attention")
    assert review["wish_id"] == wish_id and review["event"] == "待审核"

    approved = wish_act("demo-secretary", wish_id, "approve", check_method="visit")
    assert approved["status"]["code"] == "published" and approved["published_at"]
    assert approved["check_method"] == {"code": "visit", "name": "上门核实"}
    assert notified(app, users["demo-resident"], "wish_update")[0]["status"] == "待认领"

    claimed = wish_act("demo-party-member", wish_id, "claim")
    assert claimed["status"]["code"] == "claimed"
    assert claimed["claimer"] == {"id": users["demo-party-member"], "name": "刘党员"}
    assert claimed["contact"]["address"] == "虹桥小区1号楼1单元101"
    assert claimed["allowed_actions"] == ["release", "fulfil"]
    assert notified(app, users["demo-resident"], "wish_update")[-1]["status"] == "已认领"

    no_proof = wish_act("demo-party-member", wish_id, "fulfil", expect=422, note="已送到")
    assert no_proof["errors"]["json"]["photo_ids"] == ["请上传至少一张完成心愿的照片"]
    proof = photo(people["demo-party-member"])
    fulfilled = wish_act("demo-party-member", wish_id, "fulfil", note="米已送到家",
                         photo_ids=[proof])
    assert fulfilled["status"] == {"code": "fulfilled", "name": "待确认"}
    assert fulfilled["timeline"][-1]["photos"][0]["id"] == proof
    assert notified(app, users["demo-resident"], "wish_update")[-1]["status"] == "待确认"
    assert ledger_entries(app, wish_id) == []  # nothing before the requester confirms

    done = wish_act("demo-resident", wish_id, "confirm")
    assert done["status"]["code"] == "completed" and done["completed_at"]
    assert [e["action"] for e in done["timeline"]] == [
        "post", "approve", "claim", "fulfil", "confirm"]
    assert ledger_entries(app, wish_id) == [(users["demo-party-member"], 20)]
    [thanks] = notified(app, users["demo-party-member"], "wish_claim_update")
    assert thanks["status"] == "已完成" and "20 积分" in thanks["note"]
    ledger = client.get("/api/v1/points", headers=people["demo-party-member"]).get_json()
    assert ledger["balance"] == 20
    assert ledger["items"][0]["description"] == "完成微心愿：帮忙买一袋米"
    # Done: the claimer keeps the full view but no longer the contact.
    later = client.get(f"/api/v1/wishes/{wish_id}", headers=people["demo-party-member"])
    assert later.get_json()["public_view"] is False and later.get_json()["contact"] is None
    # Confirming again is the wrong state, and counts nothing twice.
    again = wish_act("demo-resident", wish_id, "confirm", expect=409)
    assert again["code"] == "invalid_transition" and again["errors"] == {"status": "completed"}
    assert ledger_entries(app, wish_id) == [(users["demo-party-member"], 20)]


def test_wrong_role_is_403_and_wrong_state_409_with_the_state(client, people, wish_post,
                                                              wish_act):
    wish_id = wish_post()["id"]
    # 403: the state allows the action, this user may not take it
    for who, action in [("demo-resident", "approve"), ("demo-grid-worker", "approve"),
                        ("demo-staff", "reject"), ("demo-resident", "reject")]:
        assert wish_act(who, wish_id, action, expect=403)["code"] == "forbidden", (who, action)
    # 409: the state does not allow the action, whoever asks (the right person or not);
    # the answer names the current state
    wrong = wish_act("demo-resident", wish_id, "confirm", expect=409)
    assert wrong == {"code": "invalid_transition", "message": "当前状态为“待审核”，不能执行此操作",
                     "errors": {"status": "pending_review"}}
    for who, action in [("demo-resident", "claim"), ("demo-secretary", "claim"),
                        ("demo-grid-worker", "fulfil"), ("demo-admin", "claim")]:
        refused = wish_act(who, wish_id, action, expect=409)
        assert refused["errors"] == {"status": "pending_review"}, (who, action)
    wish_act("demo-secretary", wish_id, "approve", check_method="phone")
    again = wish_act("demo-secretary", wish_id, "approve", expect=409, check_method="phone")
    assert again["errors"] == {"status": "published"} and "待认领" in again["message"]
    assert wish_act("demo-secretary", wish_id, "release", expect=409,
                    note="x")["errors"] == {"status": "published"}
    # Published: claiming is allowed, but not for the requester, the secretary or admin.
    for who in ("demo-resident", "demo-secretary", "demo-admin"):
        assert wish_act(who, wish_id, "claim", expect=403)["code"] == "forbidden", who
    # Nobody fulfils a wish nobody holds.
    assert wish_act("demo-resident-2", wish_id, "fulfil", expect=409)["errors"] == {
        "status": "published"}
    wish_act("demo-resident-2", wish_id, "claim")
    assert wish_act("demo-resident-3", wish_id, "claim", expect=409)["errors"] == {
        "status": "claimed"}
    # Claimed: fulfil and release are allowed, only for the claimer (release: or secretary).
    assert wish_act("demo-resident-3", wish_id, "release", expect=403)["code"] == "forbidden"
    assert wish_act("demo-grid-worker", wish_id, "fulfil", expect=403)["code"] == "forbidden"
    # An unknown action is refused by the schema.
    assert wish_act("demo-resident", wish_id, "teleport", expect=422)["code"] == \
        "validation_error"


def test_approve_needs_a_check_method_and_reject_a_reason(app, world, wish_post, wish_act):
    wish_id = wish_post()["id"]
    missing = wish_act("demo-secretary", wish_id, "approve", expect=422)
    assert missing["errors"]["json"]["check_method"] == ["请选择核实方式（电话或上门）"]
    assert wish_act("demo-secretary", wish_id, "approve", expect=422,
                    check_method="email")["code"] == "validation_error"
    no_reason = wish_act("demo-secretary", wish_id, "reject", expect=422)
    assert no_reason["errors"]["json"]["note"] == ["请说明不通过的原因"]
    assert wish_row(app, wish_id).status.value == "pending_review"  # nothing changed
    rejected = wish_act("demo-secretary", wish_id, "reject", note="与实际情况不符")
    assert rejected["status"] == {"code": "rejected", "name": "未通过"}
    assert rejected["close_note"] == "与实际情况不符"
    update = notified(app, world["users"]["demo-resident"], "wish_update")[-1]
    assert update["status"] == "未通过" and update["note"] == "与实际情况不符"


def test_pending_and_other_compounds_wishes_are_404(client, people, wish_post, wish_act):
    wish_id = wish_post()["id"]
    for outsider in ("demo-resident-2", "demo-party-member", "demo-secretary-2",
                     "demo-grid-worker-2"):
        response = client.get(f"/api/v1/wishes/{wish_id}", headers=people[outsider])
        assert response.status_code == 404, outsider
        assert response.get_json()["code"] == "wish_not_found"
        assert wish_act(outsider, wish_id, "claim", expect=404)["code"] == "wish_not_found"
    assert wish_act("demo-secretary-2", wish_id, "approve", expect=404,
                    check_method="phone")["code"] == "wish_not_found"
    # Managers of its grid, compound and community see it while it waits.
    for manager in ("demo-grid-worker", "demo-secretary", "demo-staff", "demo-admin"):
        assert client.get(f"/api/v1/wishes/{wish_id}",
                          headers=people[manager]).status_code == 200, manager


def test_post_validation_and_content_security(app, people, wish_post, photo):
    resident = "demo-resident"
    long_title = wish_post(resident, expect=422, title="一" * 21)
    assert long_title["code"] == "validation_error" and "title" in long_title["errors"]["json"]
    assert wish_post(resident, expect=201, title="一" * 20)["title"] == "一" * 20
    too_long = wish_post(resident, expect=422, description="长" * 301)
    assert "description" in too_long["errors"]["json"]
    blank = wish_post(resident, expect=422, title="   ")
    assert blank["errors"]["json"]["title"] == ["此项不能为空"]
    assert "category" in wish_post(resident, expect=422, category="money")["errors"]["json"]
    assert "photo_ids" in wish_post(resident, expect=422, photos=4)["errors"]["json"]
    before = count_wishes(app)
    risky = wish_post(resident, expect=422, description="想买点违禁品")
    assert risky["code"] == "content_risky"
    assert count_wishes(app) == before  # nothing was created
    held = wish_post("demo-resident-2", description="这段话待审一下")
    assert held["flagged"] is True and held["status"]["code"] == "pending_review"
    assert [e["action"] for e in held["timeline"]] == ["post", "hold_for_review"]
    # Someone else's upload is not a photo of mine.
    theirs = photo(people["demo-resident-2"])
    borrowed = wish_post(resident, expect=422, photos=0, photo_ids=[theirs])
    assert borrowed["code"] == "invalid_photos"


def test_only_verified_residents_post_for_their_household(client, auth, people, wish_post):
    assert wish_post("demo-grid-worker", expect=403)["code"] == "not_resident"
    stranger = auth("just-installed")
    response = client.post("/api/v1/wishes", headers=stranger, json=WISH)
    assert response.status_code == 403 and response.get_json()["code"] == "not_resident"


def test_a_household_has_at_most_three_open_wishes(app, world, wish_post, wish_act):
    first = wish_post()["id"]
    wish_post(title="第二个")
    wish_post(title="第三个")
    refused = wish_post(expect=409, title="第四个")
    assert refused["code"] == "wish_limit_reached" and refused["errors"] == {"limit": 3}
    # The limit is the household's: another member of 1-101 is refused too.
    def join():
        hh = db.session.get(User, world["users"]["demo-resident"]).household_id
        other = db.session.scalar(sa.select(User).where(User.openid == "demo-resident-2"))
        other.household_id = hh
        db.session.commit()
    in_app(app, join)
    assert wish_post("demo-resident-2", expect=409)["code"] == "wish_limit_reached"
    wish_act("demo-resident", first, "cancel")
    assert wish_post(title="第四个")["status"]["code"] == "pending_review"


def test_grid_worker_posts_for_a_household_with_consent(app, client, world, people, wish_post,
                                                         wish_act, photo):
    users = world["users"]

    def household(room: str) -> int:
        return in_app(app, lambda: db.session.scalar(sa.text(
            "SELECT h.id FROM households h JOIN buildings b ON b.id = h.building_id "
            "WHERE b.id = :b AND h.unit = '2' AND h.room = :r"),
            {"b": world["buildings"][("虹桥小区", "2号楼")], "r": room}))

    elder = household("302")
    in_app(app, lambda: (db.session.execute(sa.text(
        "UPDATE households SET head_name = '王奶奶' WHERE id = :id"), {"id": elder}),
        db.session.execute(sa.text("UPDATE users SET phone = '13900001111' WHERE id = :id"),
                           {"id": users["demo-grid-worker"]}), db.session.commit()))
    no_consent = wish_post("demo-grid-worker", expect=422, household_id=elder)
    assert no_consent["code"] == "consent_required"
    assert wish_post("demo-grid-worker-2", expect=403, household_id=elder,
                     consent=True)["code"] == "forbidden"  # not their grid
    assert wish_post("demo-resident-2", expect=403, household_id=elder,
                     consent=True)["code"] == "forbidden"  # a resident posts for home only
    assert wish_post("demo-grid-worker", expect=404, household_id=999999,
                     consent=True)["code"] == "household_not_found"
    created = wish_post("demo-grid-worker", household_id=elder, consent=True,
                        title="陪王奶奶去医院")
    wish_id = created["id"]
    assert created["on_behalf"] is True and created["requester"] == {"id": None, "name": "王奶奶"}
    assert created["poster"] == {"id": users["demo-grid-worker"], "name": "赵网格"}
    wish_act("demo-secretary", wish_id, "approve", check_method="visit")
    # The poster stands in for the household: told of the approval.
    assert notified(app, users["demo-grid-worker"], "wish_update")[0]["status"] == "待认领"
    assert wish_act("demo-grid-worker", wish_id, "claim", expect=403)["code"] == "forbidden"
    claimed = wish_act("demo-resident", wish_id, "claim")
    assert claimed["contact"] == {"name": "王奶奶", "address": "虹桥小区2号楼2单元302",
                                  "phone": "13900001111", "via": "赵网格"}
    wish_act("demo-resident", wish_id, "fulfil", photo_ids=[photo(people["demo-resident"])])
    assert wish_act("demo-resident", wish_id, "confirm", expect=403)["code"] == "forbidden"
    unexplained = wish_act("demo-grid-worker", wish_id, "confirm", expect=422)
    assert unexplained["errors"]["json"]["note"] == ["代为确认时请说明核实情况"]
    done = wish_act("demo-grid-worker", wish_id, "confirm", note="已电话回访王奶奶，已陪同就医")
    assert done["status"]["code"] == "completed"
    assert ledger_entries(app, wish_id) == [(users["demo-resident"], 20)]


def test_release_by_the_claimer_and_by_the_secretary(app, client, world, people, claimed_wish,
                                                     wish_act):
    users = world["users"]
    wish_id = claimed_wish()
    released = wish_act("demo-party-member", wish_id, "release")
    assert released["status"]["code"] == "published" and released["claimer"] is None
    assert released["contact"] is None and released["public_view"] is True
    assert notified(app, users["demo-resident"], "wish_update")[-1]["note"] == \
        "认领已释放，心愿重新等待认领"
    assert notified(app, users["demo-party-member"], "wish_claim_update") == []  # own choice
    wish_act("demo-resident-2", wish_id, "claim")
    unexplained = wish_act("demo-secretary", wish_id, "release", expect=422)
    assert unexplained["errors"]["json"]["note"] == ["请说明释放认领的原因"]
    wish_act("demo-secretary", wish_id, "release", note="联系不上认领人")
    [told] = notified(app, users["demo-resident-2"], "wish_claim_update")
    assert told["status"] == "已释放" and told["note"] == "联系不上认领人"
    assert [e for e, _ in events(app, wish_id)] == [
        "post", "approve", "claim", "release", "claim", "release"]
    assert wish_row(app, wish_id).claim_count == 2


def test_a_former_claimer_is_told_the_state_after_their_claim_was_released(
        app, world, people, claimed_wish, wish_act, photo):
    """After a release (by the secretary here; by the timer in the job tests) the former
    claimer's fulfil or release is 409 naming the state, not 403; once someone else holds
    it, the state allows a fulfil and it is 403: not theirs."""
    wish_id = claimed_wish()
    wish_act("demo-secretary", wish_id, "release", note="联系不上认领人")
    proof = photo(people["demo-party-member"])
    late = wish_act("demo-party-member", wish_id, "fulfil", expect=409, photo_ids=[proof])
    assert late == {"code": "invalid_transition", "message": "当前状态为“待认领”，不能执行此操作",
                    "errors": {"status": "published"}}
    assert wish_act("demo-party-member", wish_id, "release", expect=409)["errors"] == {
        "status": "published"}
    # With a note (checked with WeChat first for a resident): the same answer, no call.
    noted = wish_act("demo-party-member", wish_id, "fulfil", expect=409, note="已送到",
                     photo_ids=[proof])
    assert noted["errors"] == {"status": "published"}
    wish_act("demo-resident-2", wish_id, "claim")
    taken = wish_act("demo-party-member", wish_id, "fulfil", expect=403, photo_ids=[proof])
    assert taken["code"] == "forbidden"
    row = wish_row(app, wish_id)
    assert row.status.value == "claimed" and row.claimer_id == world["users"]["demo-resident-2"]
    assert [e for e, _ in events(app, wish_id)] == [
        "post", "approve", "claim", "release", "claim"]


def test_dispute_returns_the_claim_and_tells_the_secretary(app, world, people, claimed_wish,
                                                           wish_act, photo):
    users = world["users"]
    wish_id = claimed_wish()
    wish_act("demo-party-member", wish_id, "fulfil", photo_ids=[photo(people["demo-party-member"])])
    # A neighbour sees it on the wall, but it is not theirs to dispute.
    assert wish_act("demo-resident-2", wish_id, "dispute", expect=403,
                    note="x")["code"] == "forbidden"
    assert wish_act("demo-party-member", wish_id, "dispute", expect=403,
                    note="x")["code"] == "forbidden"  # never the claimer
    unexplained = wish_act("demo-resident", wish_id, "dispute", expect=422)
    assert unexplained["errors"]["json"]["note"] == ["请说明还有什么没有完成"]
    risky = wish_act("demo-resident", wish_id, "dispute", expect=422, note="违禁的话")
    assert risky["code"] == "content_risky"
    assert wish_row(app, wish_id).status.value == "fulfilled"
    disputed = wish_act("demo-resident", wish_id, "dispute", note="米还没有送到")
    assert disputed["status"]["code"] == "claimed" and disputed["fulfilled_at"] is None
    assert disputed["claimer"]["id"] == users["demo-party-member"]
    [attention] = [n for n in notified(app, users["demo-secretary"], "wish_attention")
                   if n["event"] == "有异议"]
    assert attention["note"] == "米还没有送到"
    assert notified(app, users["demo-party-member"], "wish_claim_update")[-1]["status"] == "有异议"
    # The claimer finishes it properly, and the requester is told again.
    wish_act("demo-party-member", wish_id, "fulfil", photo_ids=[photo(people["demo-party-member"])])
    assert [n["status"] for n in notified(app, users["demo-resident"], "wish_update")].count(
        "待确认") == 2
    wish_act("demo-resident", wish_id, "confirm")
    assert ledger_entries(app, wish_id) == [(users["demo-party-member"], 20)]


def test_cancel_by_the_requester_before_a_claim_and_by_staff_any_time(
        app, world, published_wish, claimed_wish, wish_act):
    users = world["users"]
    wish_id = published_wish()
    assert wish_act("demo-resident-2", wish_id, "cancel", expect=403)["code"] == "forbidden"
    assert wish_act("demo-resident", wish_id, "cancel")["status"]["code"] == "cancelled"
    claimed = claimed_wish()
    refused = wish_act("demo-resident", claimed, "cancel", expect=409)
    assert refused["code"] == "invalid_transition" and refused["errors"] == {"status": "claimed"}
    unexplained = wish_act("demo-staff", claimed, "cancel", expect=422)
    assert unexplained["errors"]["json"]["note"] == ["请说明取消的原因"]
    cancelled = wish_act("demo-staff", claimed, "cancel", note="居民已搬离")
    assert cancelled["status"]["code"] == "cancelled" and cancelled["close_note"] == "居民已搬离"
    assert notified(app, users["demo-party-member"], "wish_claim_update")[-1]["status"] == "已取消"
    assert notified(app, users["demo-resident"], "wish_update")[-1]["note"] == "居民已搬离"
    assert wish_act("demo-staff", claimed, "cancel", expect=409,
                    note="再取消")["errors"] == {"status": "cancelled"}


def test_three_active_claims_per_claimer(app, people, published_wish, wish_act, photo):
    requesters = ["demo-resident", "demo-resident-2", "demo-resident-3"]
    wishes = [published_wish(openid) for openid in requesters]
    for wish_id in wishes:
        wish_act("demo-party-member", wish_id, "claim")
    fourth = published_wish("demo-resident", title="第二个心愿")
    refused = wish_act("demo-party-member", fourth, "claim", expect=409)
    assert refused["code"] == "claim_limit_reached" and refused["errors"] == {"limit": 3}
    assert wish_row(app, fourth).status.value == "published"
    # A fulfilled wish is no longer an active claim.
    wish_act("demo-party-member", wishes[0], "fulfil",
             photo_ids=[photo(people["demo-party-member"])])
    assert wish_act("demo-party-member", fourth, "claim")["status"]["code"] == "claimed"


def test_registered_party_members_claim_in_their_community_only(app, world, published_wish,
                                                               wish_act, registered_member):
    wish_id = published_wish()
    here = registered_member("member-here", world["community"])
    nowhere = registered_member("member-nowhere", None)
    assert wish_act(nowhere, wish_id, "claim", expect=404)["code"] == "wish_not_found"
    claimed = wish_act(here, wish_id, "claim")
    assert claimed["claimer"]["name"] == "钱党员"


def test_a_member_of_the_requesters_household_may_not_claim(app, world, published_wish,
                                                            wish_act):
    wish_id = published_wish()

    def join():
        home = db.session.get(User, world["users"]["demo-resident"]).household_id
        db.session.get(User, world["users"]["demo-resident-2"]).household_id = home
        db.session.commit()
    in_app(app, join)
    assert wish_act("demo-resident-2", wish_id, "claim", expect=403)["code"] == "forbidden"


def test_lists_by_scope(client, world, people, wish_post, published_wish, claimed_wish):
    pending = wish_post("demo-resident-2")["id"]
    published = published_wish("demo-resident")
    claimed = claimed_wish(openid="demo-resident", title="修水龙头", category="repair")

    def ids(who, **query):
        response = client.get("/api/v1/wishes", headers=people[who], query_string=query)
        assert response.status_code == 200, response.get_json()
        return [item["id"] for item in response.get_json()["items"]]

    assert ids("demo-resident") == [claimed, published]  # the wall, newest first
    assert ids("demo-resident", status="published") == [published]
    assert ids("demo-resident", category="repair") == [claimed]
    assert ids("demo-resident", scope="mine") == [claimed, published]
    assert ids("demo-resident-2", scope="mine") == [pending]
    assert ids("demo-party-member", scope="claimed") == [claimed]
    assert ids("demo-secretary", scope="compound") == [claimed, published, pending]
    assert ids("demo-secretary", scope="queue") == [pending]
    assert ids("demo-secretary-2", scope="compound") == []
    assert ids("demo-resident-3", compound_id=world["compounds"]["虹桥小区"]) == [claimed, published]
    assert ids("demo-resident-3") == []  # their own compound's wall
    refused = client.get("/api/v1/wishes?scope=compound", headers=people["demo-resident"])
    assert refused.status_code == 403
    page = client.get("/api/v1/wishes?limit=1", headers=people["demo-resident"]).get_json()
    assert [i["id"] for i in page["items"]] == [claimed] and page["next_cursor"]
    rest = client.get(f"/api/v1/wishes?limit=1&cursor={page['next_cursor']}",
                      headers=people["demo-resident"]).get_json()
    assert [i["id"] for i in rest["items"]] == [published] and rest["next_cursor"] is None


CARE_TAG_WORDS = ("空巢", "困难", "empty_nest", "hardship", "care", "tag")


def test_the_wall_masks_the_requester_and_shows_no_room_phone_or_care_tag(
        app, client, world, people, published_wish, wish_act, auth):
    def private_details():
        resident = db.session.get(User, world["users"]["demo-resident"])
        resident.phone = "13800001234"
        household = resident.household
        household.tags.extend([HouseholdTag(tag=CareTag.EMPTY_NEST),
                               HouseholdTag(tag=CareTag.HARDSHIP)])
        db.session.commit()
    in_app(app, private_details)
    wish_id = published_wish()
    neighbour = people["demo-resident-2"]
    wall = client.get("/api/v1/wishes?status=published", headers=neighbour).get_json()
    [item] = wall["items"]
    assert item["requester"] == {"name": "1号楼 张**"}
    assert item["public_view"] is True and item["contact"] is None and item["poster"] is None
    seen = client.get(f"/api/v1/wishes/{wish_id}", headers=neighbour).get_json()
    assert [set(e) for e in seen["timeline"]] == [{"action", "label", "to_status",
                                                   "created_at"}] * 2
    assert [e["label"] for e in seen["timeline"]] == ["发布心愿", "审核通过"]
    for body in (wall, seen):
        text = json.dumps(body, ensure_ascii=False)
        for secret in ("张阿姨", "单元", "13800001234", *CARE_TAG_WORDS):
            assert secret not in text, secret
    assert seen["allowed_actions"] == ["claim"]

    # The claimer gets the room and the phone, and only while holding the claim.
    claimed = wish_act("demo-party-member", wish_id, "claim")
    assert claimed["contact"] == {"name": "张阿姨", "address": "虹桥小区1号楼1单元101",
                                  "phone": "13800001234", "via": None}
    mine = client.get("/api/v1/wishes?scope=claimed", headers=people["demo-party-member"])
    assert mine.get_json()["items"][0]["contact"]["phone"] == "13800001234"
    watching = client.get(f"/api/v1/wishes/{wish_id}", headers=neighbour).get_json()
    assert watching["contact"] is None and watching["claimer"] == {"name": "刘**"}
    assert "13800001234" not in json.dumps(watching)
    manager = client.get(f"/api/v1/wishes/{wish_id}", headers=people["demo-secretary"]).get_json()
    assert manager["contact"]["phone"] == "13800001234"
    for body in (claimed, manager):
        text = json.dumps(body, ensure_ascii=False)
        assert not any(word in text for word in CARE_TAG_WORDS)  # care tags: never
    released = wish_act("demo-party-member", wish_id, "release")
    assert released["contact"] is None and released["requester"] == {"name": "1号楼 张**"}
    after = client.get(f"/api/v1/wishes/{wish_id}", headers=people["demo-party-member"])
    assert after.get_json()["contact"] is None and "13800001234" not in after.get_data(as_text=True)

    # Outside the community: no wall, no wish.
    stranger = auth("just-installed")
    no_home = client.get("/api/v1/wishes", headers=stranger)
    assert no_home.status_code == 422 and no_home.get_json()["code"] == "compound_required"
    other = client.get(f"/api/v1/wishes?compound_id={world['compounds']['虹桥小区']}",
                       headers=stranger)
    assert other.status_code == 403 and other.get_json()["code"] == "not_community_member"
    assert client.get(f"/api/v1/wishes/{wish_id}", headers=stranger).status_code == 404


def test_neighbours_see_the_wishs_photos_but_not_the_proof(client, people, claimed_wish,
                                                           wish_act, photo, auth):
    wish_id = claimed_wish()
    own = client.get(f"/api/v1/wishes/{wish_id}", headers=people["demo-resident"]).get_json()
    [picture] = own["photos"]
    proof = photo(people["demo-party-member"])
    wish_act("demo-party-member", wish_id, "fulfil", photo_ids=[proof])
    neighbour = people["demo-resident-2"]
    assert client.get(f"/api/v1/uploads/{picture['id']}", headers=neighbour).status_code == 200
    refused = client.get(f"/api/v1/uploads/{proof}", headers=neighbour)
    assert refused.status_code == 404 and refused.get_json()["code"] == "upload_not_found"
    for party in ("demo-resident", "demo-secretary", "demo-party-member"):
        assert client.get(f"/api/v1/uploads/{proof}", headers=people[party]).status_code == 200
    stranger = auth("just-installed")
    assert client.get(f"/api/v1/uploads/{picture['id']}", headers=stranger).status_code == 404


def test_posting_with_an_idempotency_key_creates_one_wish(app, client, people, photo):
    body = {**WISH, "photo_ids": [photo(people["demo-resident"])]}
    headers = {**people["demo-resident"], "Idempotency-Key": "wish-post-1"}
    first = client.post("/api/v1/wishes", headers=headers, json=body)
    again = client.post("/api/v1/wishes", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    assert count_wishes(app) == 1


def test_content_check_unavailable_is_never_blamed_on_the_resident(app, sandbox, wish_post,
                                                                    claimed_wish, wish_act,
                                                                    photo, people):
    # Posting while WeChat's check is down: held for review and flagged, not refused.
    sandbox.fault("wxa/msg_sec_check", errcode=-1, count=1)
    held = wish_post("demo-resident-2", description="想请人帮忙搬一下米")
    assert held["status"]["code"] == "pending_review" and held["flagged"] is True
    # A resident's dispute note while it is down: 503, and the wish is unchanged.
    wish_id = claimed_wish()
    wish_act("demo-party-member", wish_id, "fulfil", photo_ids=[photo(people["demo-party-member"])])
    sandbox.fault("wxa/msg_sec_check", errcode=-1, count=1)
    down = wish_act("demo-resident", wish_id, "dispute", expect=503, note="米还没有送到")
    assert down["code"] == "content_check_unavailable"
    assert wish_row(app, wish_id).status.value == "fulfilled"


def test_the_wall_is_one_query_for_a_volunteer_whatever_the_page_size(
        app, client, world, people, published_wish):
    wishes = [published_wish("demo-resident", title=f"心愿{n}") for n in range(3)] + \
        [published_wish("demo-resident-2", title=f"心愿{n}") for n in range(2)]
    compound = world["compounds"]["虹桥小区"]

    def read(who, limit):
        url = f"/api/v1/wishes?status=published&compound_id={compound}&limit={limit}"
        with counting_queries(app) as statements:
            body = client.get(url, headers=people[who]).get_json()
        return body, statements

    small, few = read("demo-resident-3", 1)  # a volunteer from the other compound
    full, many = read("demo-resident-3", 5)
    assert [i["id"] for i in full["items"]] == wishes[::-1] and len(small["items"]) == 1
    assert len(many) == len(few), many  # nothing per item
    assert len([s for s in many if "FROM wishes" in s]) == 1, many  # the check is in it
    assert [i["requester"]["name"] for i in full["items"]] == ["1号楼 李**"] * 2 + ["1号楼 张**"] * 3
    # A manager's access is checked first (one more query), with the same page, and the
    # page's contacts (room, phone) are one more, for all its items at once.
    managed, statements = read("demo-secretary", 5)
    assert [i["id"] for i in managed["items"]] == wishes[::-1]
    assert all(i["contact"]["address"].startswith("虹桥小区1号楼") for i in managed["items"])
    assert len(statements) == len(many) + 2, statements
    # Nothing to show: the empty page is checked again, to say why.
    missing = client.get("/api/v1/wishes?compound_id=999999", headers=people["demo-resident"])
    assert missing.status_code == 404 and missing.get_json()["code"] == "compound_not_found"
    empty = client.get(f"/api/v1/wishes?status=cancelled&compound_id={compound}",
                       headers=people["demo-resident-3"])
    assert empty.status_code == 200 and empty.get_json() == {"items": [], "next_cursor": None}


def test_mine_is_what_i_posted_and_a_requester_is_always_the_poster(app, client, world,
                                                                   people, wish_post):
    """`scope=mine` reads the poster alone: a resident's own wish, a grid worker's wish
    posted for a household. The database refuses a requester who is not the poster
    (CHECK requester_is_poster), and the wish is left as it was."""
    for_them = wish_post("demo-grid-worker", consent=True, household_id=in_app(
        app, lambda: household(world, "虹桥小区", "2号楼", "1", "101")))["id"]
    own = wish_post("demo-resident")["id"]

    def mine(who):
        response = client.get("/api/v1/wishes?scope=mine", headers=people[who])
        assert response.status_code == 200, response.get_json()
        return [item["id"] for item in response.get_json()["items"]]

    assert mine("demo-grid-worker") == [for_them]
    assert mine("demo-resident") == [own]
    assert mine("demo-resident-2") == []

    def someone_else_as_requester():
        db.session.get(Wish, own).requester_id = world["users"]["demo-resident-2"]
        try:
            db.session.flush()
        except sa.exc.IntegrityError as error:
            db.session.rollback()
            return "requester_is_poster" in str(error.orig)
        return False
    assert in_app(app, someone_else_as_requester)
    assert wish_row(app, own).requester_id == world["users"]["demo-resident"]


def test_every_list_scope_pages_through_its_wishes_once_each(app, client, people, wish_post,
                                                             published_wish, monkeypatch):
    """The poster, grid and community scopes search wish_keys (app.models.wishes.WishKeys)
    with the page's bound, the compound scope `wishes` itself: paged two at a time, each
    gives what one long page gives, newest first (the queue oldest first), nothing twice.
    Every wish the app wrote has keys equal to its own columns."""
    monkeypatch.setitem(app.config, "WISH_OPEN_PER_HOUSEHOLD", 20)
    pending = [wish_post("demo-resident", title=f"心愿{n}")["id"] for n in range(3)]
    published = [published_wish("demo-resident", title=f"已发布{n}") for n in range(3)]
    posted = pending + published

    def paged(who, **query):
        seen, cursor = [], None
        while True:
            response = client.get("/api/v1/wishes", headers=people[who], query_string={
                **query, "limit": 2, **({"cursor": cursor} if cursor else {})})
            assert response.status_code == 200, response.get_json()
            body = response.get_json()
            seen += [item["id"] for item in body["items"]]
            if not (cursor := body["next_cursor"]):
                return seen

    def whole(who, **query):
        response = client.get("/api/v1/wishes", headers=people[who],
                              query_string={**query, "limit": 50})
        assert response.status_code == 200, response.get_json()
        return [item["id"] for item in response.get_json()["items"]]

    newest_first = sorted(posted, reverse=True)
    for who in ("demo-grid-worker", "demo-secretary", "demo-staff"):  # grid, compound, community
        assert paged(who, scope="compound") == whole(who, scope="compound") == newest_first, who
        assert paged(who, scope="queue") == whole(who, scope="queue") == pending, who
    assert paged("demo-resident", scope="mine") == newest_first
    assert paged("demo-resident", scope="mine", status="published") == published[::-1]
    assert paged("demo-resident-2", scope="mine") == []
    assert in_app(app, keys_kept) == (len(posted),) * 3


def test_the_keys_of_a_wish_never_change(app, wish_post):
    """The columns copied in wish_keys are written once: changing one on the wish, or the
    copy itself, is refused before anything reaches the database."""
    wish_id = wish_post("demo-resident")["id"]

    def change(model, name):
        def run():
            setattr(db.session.get(model, wish_id), name, 999)
            try:
                db.session.flush()
            except RuntimeError as error:
                db.session.rollback()
                return str(error)
            return None
        return in_app(app, run)
    assert "grid_id never change" in change(Wish, "grid_id")
    assert "poster_id never change" in change(Wish, "poster_id")
    assert "written once" in change(WishKeys, "household_id")
    assert in_app(app, keys_kept) == (1, 1, 1)
