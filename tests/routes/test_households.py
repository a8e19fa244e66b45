"""Household membership: binding is a request; approval by the grid worker, the secretary, a
verified member of the household, or an invite code; refusal; stale requests; and an
unverified user sees nothing a resident sees."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.models import Household, HouseholdMembership, Notification, Role, RoleGrant, User, VerifiedBy
from app.models.base import utcnow

ADDRESS = {"unit": "1", "room": "101"}  # 虹桥小区 1号楼 1-101 exists in the demo


def bind(client, headers, building, expect=200, **fields):
    body = {"building_id": building, **ADDRESS, **fields}
    response = client.put("/api/v1/me/household", headers=headers, json=body)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def decide(client, headers, membership_id, action, expect=200, **fields):
    response = client.post(f"/api/v1/household-requests/{membership_id}/transitions",
                           headers=headers, json={"action": action, **fields})
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def me(client, headers):
    return client.get("/api/v1/me", headers=headers).get_json()


def test_binding_is_a_pending_request_until_the_grid_worker_approves(client, world, auth):
    newcomer = auth("newcomer")
    building = world["buildings"][("虹桥小区", "1号楼")]
    body = bind(client, newcomer, building)
    assert body["status"]["code"] == "pending"
    assert body["household"]["room"] == "101"
    assert body["household"]["compound"]["name"] == "虹桥小区"
    profile = me(client, newcomer)
    assert profile["household"] is None and "resident" not in profile["roles"]

    worker = auth("demo-grid-worker")
    queue = client.get("/api/v1/household-requests", headers=worker).get_json()
    [item] = [i for i in queue["items"] if i["id"] == body["id"]]
    assert item["requester"]["nickname"] == "微信用户"
    # The household's existing verified member (张阿姨) is shown for the check.
    assert [m["nickname"] for m in item["members"]] == ["张阿姨"]

    approved = decide(client, worker, body["id"], "approve")
    assert approved["status"]["code"] == "verified"
    assert approved["verified_by"]["code"] == "grid_worker"
    profile = me(client, newcomer)
    assert profile["household"]["room"] == "101" and "resident" in profile["roles"]
    assert client.get("/api/v1/household-requests", headers=worker).get_json()["items"] == []


def test_secretary_and_household_member_may_approve_others_may_not(client, world, auth, ctx):
    building = world["buildings"][("虹桥小区", "1号楼")]
    one, two = auth("newcomer-1"), auth("newcomer-2")
    first, second = bind(client, one, building), bind(client, two, building)
    # Not in scope: the other grid's worker and secretary; a resident of another household.
    for outsider in ("demo-grid-worker-2", "demo-secretary-2", "demo-resident-2"):
        assert client.post(f"/api/v1/household-requests/{first['id']}/transitions",
                           headers=auth(outsider), json={"action": "approve"}
                           ).status_code == 404
    # The requester cannot approve themselves.
    assert decide(client, one, first["id"], "approve", expect=403)["code"] == "forbidden"
    by_secretary = decide(client, auth("demo-secretary"), first["id"], "approve")
    assert by_secretary["verified_by"]["code"] == "secretary"
    # 张阿姨 lives at 1-101 and is verified: she may confirm a family member.
    by_member = decide(client, auth("demo-resident"), second["id"], "approve")
    assert by_member["verified_by"]["code"] == "household_member"
    # The first approved member may not approve twice; state is now verified.
    again = decide(client, auth("demo-secretary"), first["id"], "approve", expect=409)
    assert again["code"] == "invalid_transition"
    rows = db.session.scalars(sa.select(HouseholdMembership.verified_by).where(
        HouseholdMembership.id.in_([first["id"], second["id"]]))).all()
    assert sorted(rows) == sorted([VerifiedBy.SECRETARY, VerifiedBy.HOUSEHOLD_MEMBER])


def test_invite_code_verifies_at_once_and_only_once(client, world, auth, ctx):
    household = db.session.scalar(sa.select(Household.id).where(
        Household.building_id == world["buildings"][("虹桥小区", "2号楼")],
        Household.unit == "2", Household.room == "302"))
    resident = auth("demo-resident")
    refused = client.post(f"/api/v1/households/{household}/invites", headers=resident)
    assert refused.status_code == 403
    other_grid = client.post(f"/api/v1/households/{household}/invites",
                             headers=auth("demo-grid-worker-2"))
    assert other_grid.status_code == 403
    invite = client.post(f"/api/v1/households/{household}/invites",
                         headers=auth("demo-grid-worker"))
    assert invite.status_code == 201
    code = invite.get_json()["code"]
    assert len(code) == 8 and invite.get_json()["household"]["room"] == "302"

    joiner = auth("joiner")
    body = client.put("/api/v1/me/household", headers=joiner,
                      json={"invite_code": code.lower()}).get_json()  # case does not matter
    assert body["status"]["code"] == "verified" and body["verified_by"]["code"] == "invite_code"
    assert me(client, joiner)["household"]["room"] == "302"
    reused = client.put("/api/v1/me/household", headers=auth("second-joiner"),
                        json={"invite_code": code})
    assert reused.status_code == 422 and reused.get_json()["code"] == "invalid_invite_code"
    wrong = client.put("/api/v1/me/household", headers=auth("guesser"),
                       json={"invite_code": "ABCDEFGH"})
    assert wrong.status_code == 422 and wrong.get_json()["code"] == "invalid_invite_code"


def test_expired_invite_is_refused(client, world, auth, ctx):
    household = db.session.scalar(sa.select(Household.id).where(
        Household.building_id == world["buildings"][("虹桥小区", "3号楼")]).limit(1))
    code = client.post(f"/api/v1/households/{household}/invites",
                       headers=auth("demo-grid-worker")).get_json()["code"]
    with time_machine.travel(utcnow() + timedelta(days=8)):
        late = client.put("/api/v1/me/household", headers=auth("late"),
                          json={"invite_code": code})
    assert late.status_code == 422 and late.get_json()["code"] == "invalid_invite_code"


def test_refusal_needs_a_reason_and_tells_the_requester(client, world, auth, ctx):
    building = world["buildings"][("虹桥小区", "1号楼")]
    requester = auth("stranger")
    body = bind(client, requester, building)
    worker = auth("demo-grid-worker")
    assert decide(client, worker, body["id"], "refuse", expect=422)["code"] == "validation_error"
    refused = decide(client, worker, body["id"], "refuse", note="核实后不是本户人员")
    assert refused["status"]["code"] == "refused" and refused["note"] == "核实后不是本户人员"
    assert me(client, requester)["household"] is None
    user_id = db.session.scalar(sa.select(User.id).where(User.openid == "stranger"))
    message = db.session.scalar(sa.select(Notification).where(Notification.user_id == user_id))
    assert message.template_key == "membership_result"
    assert message.payload["result"] == "未通过" and "核实后" in message.payload["note"]


def test_stale_request_cannot_be_approved_and_a_new_request_replaces_the_old(
        client, world, auth, ctx):
    building = world["buildings"][("虹桥小区", "1号楼")]
    requester = auth("slowpoke")
    old = bind(client, requester, building)
    worker = auth("demo-grid-worker")
    with time_machine.travel(utcnow() + timedelta(days=31)):
        worker = auth("demo-grid-worker")
        stale = decide(client, worker, old["id"], "approve", expect=409)
        assert stale["code"] == "request_expired"
        queue = client.get("/api/v1/household-requests", headers=worker).get_json()
        assert old["id"] not in [i["id"] for i in queue["items"]]
        requester = auth("slowpoke")
        new = bind(client, requester, building, room="201")
        assert decide(client, worker, new["id"], "approve")["status"]["code"] == "verified"
    statuses = dict(db.session.execute(sa.select(HouseholdMembership.id,
                                                 HouseholdMembership.status)).all())
    assert statuses[old["id"]].value == "withdrawn"
    assert statuses[new["id"]].value == "verified"


def test_rebinding_is_a_new_request_and_the_old_household_is_left_when_verified(
        client, world, auth, ctx):
    resident = auth("demo-resident-2")
    home = me(client, resident)["household"]["id"]
    building = world["buildings"][("盛世华城", "1号楼")]
    request = bind(client, resident, building, room="101")
    assert me(client, resident)["household"]["id"] == home  # still the verified one
    decide(client, auth("demo-grid-worker-2"), request["id"], "approve")
    profile = me(client, resident)
    assert profile["household"]["id"] != home
    assert profile["compound"]["name"] == "盛世华城"
    statuses = [m.status.value for m in db.session.scalars(
        sa.select(HouseholdMembership).join(User, User.id == HouseholdMembership.user_id)
        .where(User.openid == "demo-resident-2").order_by(HouseholdMembership.id))]
    assert statuses == ["left", "verified"]


def test_binding_refuses_junk_households_and_bad_text(client, world, auth, ctx):
    headers = auth("typo")
    building = world["buildings"][("虹桥小区", "1号楼")]
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Household))
    missing = client.put("/api/v1/me/household", headers=headers,
                         json={"building_id": building, "unit": "9", "room": "999"})
    assert missing.status_code == 422 and missing.get_json()["code"] == "household_not_found"
    for bad in ({"unit": "   ", "room": "101"}, {"unit": "1", "room": "10\u00001"},
                {"unit": "1\u0007", "room": "101"}):
        response = client.put("/api/v1/me/household", headers=headers,
                              json={"building_id": building, **bad})
        assert response.status_code == 422, bad
        assert response.get_json()["code"] == "validation_error"
    nothing = client.put("/api/v1/me/household", headers=headers, json={})
    assert nothing.status_code == 422
    unknown_building = client.put("/api/v1/me/household", headers=headers,
                                  json={"building_id": 999999, **ADDRESS})
    assert unknown_building.status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Household)) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(HouseholdMembership).join(
        User, User.id == HouseholdMembership.user_id).where(User.openid == "typo")) == 0


def test_an_unverified_user_sees_nothing_a_resident_sees(client, world, auth, report):
    incident = report()  # 张阿姨 reports in 虹桥小区; a grid worker accepts it below
    worker = auth("demo-grid-worker")
    client.post(f"/api/v1/incidents/{incident['id']}/transitions", headers=worker,
                json={"action": "accept"})
    building = world["buildings"][("虹桥小区", "1号楼")]
    pending = auth("pending-resident")
    bind(client, pending, building)
    neighbour = auth("demo-resident-2")
    assert client.get(f"/api/v1/incidents/{incident['id']}",
                      headers=neighbour).status_code == 200  # a verified neighbour sees it
    assert client.get(f"/api/v1/incidents/{incident['id']}",
                      headers=pending).status_code == 404
    listing = client.get("/api/v1/incidents?scope=compound", headers=pending)
    assert listing.status_code in (403, 422) or listing.get_json()["items"] == []
    follow = client.post(f"/api/v1/incidents/{incident['id']}/transitions", headers=pending,
                         json={"action": "follow"})
    assert follow.status_code == 404
    assert client.get("/api/v1/household-requests", headers=pending).status_code == 403


def test_leaving_removes_the_resident_scope(client, world, auth, ctx):
    resident = auth("demo-resident-3")
    left = client.delete("/api/v1/me/household", headers=resident)
    assert left.status_code == 200 and left.get_json()["status"]["code"] == "left"
    profile = me(client, resident)
    assert profile["household"] is None and "resident" not in profile["roles"]
    grants = db.session.scalars(sa.select(RoleGrant.role).join(User).where(
        User.openid == "demo-resident-3")).all()
    assert Role.RESIDENT not in grants
    again = client.delete("/api/v1/me/household", headers=resident)
    assert again.status_code == 404


def test_withdraw_only_by_the_requester(client, world, auth):
    building = world["buildings"][("虹桥小区", "1号楼")]
    requester = auth("changing-mind")
    body = bind(client, requester, building)
    assert decide(client, auth("demo-resident"), body["id"], "withdraw",
                  expect=403)["code"] == "forbidden"
    assert decide(client, requester, body["id"], "withdraw")["status"]["code"] == "withdrawn"
    mine = client.get("/api/v1/me/household-requests", headers=requester).get_json()
    assert [i["status"]["code"] for i in mine["items"]] == ["withdrawn"]
    assert mine["next_cursor"] is None



def test_rankings_only_for_verified_members_of_the_community(client, world, auth, app):
    from tests.fixtures.points import other_community_staff

    hq = world["compounds"]["虹桥小区"]
    url = f"/api/v1/points/rankings?compound_id={hq}"
    assert client.get(url, headers=auth("demo-resident-3")).status_code == 200  # same community
    assert client.get(url, headers=auth("demo-grid-worker")).status_code == 200
    for stranger in ("fresh-account", "pending-resident"):
        headers = auth(stranger)
        if stranger == "pending-resident":
            bind(client, headers, world["buildings"][("虹桥小区", "1号楼")])
        refused = client.get(url, headers=headers)
        assert refused.status_code == 403
        assert refused.get_json()["code"] == "not_community_member"
        community = client.get(f"/api/v1/points/rankings?community_id={world['community']}",
                               headers=headers)
        assert community.status_code == 403
    auth("other-staff")
    other_community_staff(app)  # staff of another community see only their own
    assert client.get(url, headers=auth("other-staff")).status_code == 403


def test_redeeming_only_in_the_community_of_the_verified_household(client, world, auth, app):
    from tests.fixtures.points import balance, give, make_reward

    reward = make_reward(app, world["community"], cost=5)
    party = auth("demo-party-member")  # home in 示范社区 and registered there (双报到)
    mover = world["users"]["demo-party-member"]
    give(app, mover, 50)
    assert client.post(f"/api/v1/rewards/{reward}/redeem", headers=party,
                       json={"quantity": 1}).status_code == 201
    # Moving out keeps the points but not the right to spend them in the shop.
    assert client.delete("/api/v1/me/household", headers=party).status_code == 200
    refused = client.post(f"/api/v1/rewards/{reward}/redeem", headers=party,
                          json={"quantity": 1})
    assert refused.status_code == 403 and refused.get_json()["code"] == "not_community_member"
    assert balance(app, mover) == 45
