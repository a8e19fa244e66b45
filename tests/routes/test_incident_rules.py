"""Who sees, reports, handles and closes an incident: followers get the public view, a
category's visibility is fixed when a report is filed, nobody handles or closes their own
report, who may report where, and the daily report limit."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
import time_machine

from app import timeutil
from app.extensions import db
from app.models import (
    Building,
    Community,
    Compound,
    Grid,
    Incident,
    IncidentFollower,
    IncidentStatus,
    Notification,
    Role,
    RoleGrant,
    ScopeKind,
    Street,
    User,
)
from tests.helpers import in_app

S = IncidentStatus


def notes_to(app, user_id: int, incident_id: int) -> list[str]:
    """The notes of the incident_update notifications a user got about an incident."""
    def work():
        rows = db.session.scalars(sa.select(Notification).where(
            Notification.user_id == user_id, Notification.template_key == "incident_update")
            .order_by(Notification.id)).all()
        return [r.payload["note"] for r in rows if r.payload["incident_id"] == incident_id]
    return in_app(app, work)


def incident_count(app) -> int:
    return in_app(app, lambda: db.session.scalar(sa.select(sa.func.count()).select_from(Incident)))


def grant(app, openid: str, role: Role, kind: ScopeKind | None, scope_id: int | None) -> int:
    """Give a logged-in user a role; their id."""
    def work():
        user = db.session.scalar(sa.select(User).where(User.openid == openid))
        db.session.add(RoleGrant(user_id=user.id, role=role, scope_kind=kind, scope_id=scope_id))
        db.session.commit()
        return user.id
    return in_app(app, work)


def foreign_building(app) -> int:
    """A building in another community of the same street."""
    def work():
        street = db.session.scalar(sa.select(Street))
        community = Community(street=street, name="别的社区")
        grid = Grid(community=community, name="别的网格")
        compound = Compound(community=community, name="别的小区", address="别处 1 号")
        building = Building(compound=compound, grid=grid, name="9号楼", lat=38.8, lng=111.6)
        db.session.add_all([community, grid, compound, building])
        db.session.commit()
        return building.id
    return in_app(app, work)


def file(client, headers, photo, building_id, expect, **fields):
    body = {"category": "environment", "description": "楼道堆满杂物", "building_id": building_id,
            "photo_ids": [photo(headers)], **fields}
    response = client.post("/api/v1/incidents", headers=headers, json=body)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


# 1. Followers ---------------------------------------------------------------------------

def test_followers_see_the_public_view_only(app, client, world, people, report, act, photo):
    incident_id = report()["id"]
    act("demo-resident-2", incident_id, "follow")
    act("demo-grid-worker", incident_id, "comment", note="内部备注：住户家里有老人")
    act("demo-grid-worker", incident_id, "accept")
    proof = photo(people["demo-grid-worker"])
    act("demo-grid-worker", incident_id, "resolve", note="已清运完毕", photo_ids=[proof])
    follower = people["demo-resident-2"]
    seen = client.get(f"/api/v1/incidents/{incident_id}", headers=follower).get_json()
    assert seen["public_view"] is True
    assert seen["reporter"] == {"name": "1号楼住户"}
    assert seen["assignee"] is None and seen["rating"] is None
    assert all(set(e) == {"action", "label", "to_status", "created_at"} for e in seen["timeline"])
    for secret in ("张阿姨", "赵网格", "内部备注", "已清运完毕"):
        assert secret not in str(seen)
    # The proof photo is not theirs to see (nor who took it); the report's photo is.
    refused = client.get(f"/api/v1/uploads/{proof}", headers=follower)
    assert refused.status_code == 404 and refused.get_json()["code"] == "upload_not_found"
    assert client.get(f"/api/v1/uploads/{seen['photos'][0]['id']}",
                      headers=follower).status_code == 200
    # They were told when it was accepted and when it was resolved.
    follower_id = world["users"]["demo-resident-2"]
    assert notes_to(app, follower_id, incident_id) == ["已有人接单处理", "已清运完毕"]


def test_following_list_is_paginated_in_the_public_view(client, world, people, report, act):
    followed = []
    for n in range(3):
        incident_id = report(description=f"第{n}个问题")["id"]
        act("demo-resident-2", incident_id, "follow")
        followed.append(incident_id)
    report(description="没人附议的问题")
    headers = people["demo-resident-2"]
    first = client.get("/api/v1/incidents?scope=following&limit=2", headers=headers).get_json()
    assert [i["id"] for i in first["items"]] == followed[:0:-1]  # newest first
    assert first["next_cursor"]
    second = client.get(f"/api/v1/incidents?scope=following&limit=2&cursor={first['next_cursor']}",
                        headers=headers).get_json()
    assert [i["id"] for i in second["items"]] == [followed[0]]
    assert second["next_cursor"] is None
    item = first["items"][0]
    assert item["public_view"] is True and item["reporter"] == {"name": "1号楼住户"}
    assert item["assignee"] is None and "张阿姨" not in str(first)
    nobody = client.get("/api/v1/incidents?scope=following", headers=people["demo-resident"])
    assert nobody.get_json() == {"items": [], "next_cursor": None}


def test_a_merged_duplicates_reporter_follows_the_original(app, client, world, people, report,
                                                            act):
    original = report()["id"]
    duplicate = report(openid="demo-party-member", description="垃圾桶又满了")["id"]
    act("demo-staff", duplicate, "reject", reason="duplicate", duplicate_of=original)
    headers = people["demo-party-member"]
    listed = client.get("/api/v1/incidents?scope=following", headers=headers).get_json()
    assert [i["id"] for i in listed["items"]] == [original]
    seen = client.get(f"/api/v1/incidents/{original}", headers=headers).get_json()
    assert seen["public_view"] is True and "张阿姨" not in str(seen)
    act("demo-grid-worker", original, "accept")
    assert notes_to(app, world["users"]["demo-party-member"], original) == ["已有人接单处理"]
    # Merging into a report that was itself merged away lands on the one still open.
    third = report(openid="demo-resident-2", description="垃圾还没清")["id"]
    act("demo-staff", third, "reject", reason="duplicate", duplicate_of=duplicate)
    followers = in_app(app, lambda: set(db.session.scalars(sa.select(
        IncidentFollower.user_id).where(IncidentFollower.incident_id == original))))
    assert followers == {world["users"]["demo-party-member"], world["users"]["demo-resident-2"]}
    rejected = client.get(f"/api/v1/incidents/{third}", headers=people["demo-resident-2"])
    assert rejected.get_json()["duplicate_of"] == original


# 2. Categories are global; visibility is fixed at filing -------------------------------

def test_only_admin_keeps_the_categories(client, people, categories):
    body = {"code": "elevator", "name": "电梯故障"}
    for who in ("demo-staff", "demo-secretary", "demo-resident"):
        refused = client.post("/api/v1/incident-categories", headers=people[who], json=body)
        assert refused.status_code == 403 and refused.get_json()["code"] == "forbidden", who
        edit = client.put("/api/v1/incident-categories/noise", headers=people[who],
                          json={"public": False})
        assert edit.status_code == 403, who
    created = client.post("/api/v1/incident-categories", headers=people["demo-admin"], json=body)
    assert created.status_code == 201 and created.get_json()["name"] == "电梯故障"


def test_a_category_made_public_later_does_not_publish_old_reports(client, world, people,
                                                                    report, act, photo):
    private = report(category="dispute", description="楼上漏水到我家")
    act("demo-grid-worker", private["id"], "accept")
    flipped = client.put("/api/v1/incident-categories/dispute", headers=people["demo-admin"],
                         json={"public": True})
    assert flipped.status_code == 200 and flipped.get_json()["public"] is True
    neighbour = people["demo-resident-2"]
    hidden = client.get(f"/api/v1/incidents/{private['id']}", headers=neighbour)
    assert hidden.status_code == 404 and hidden.get_json()["code"] == "incident_not_found"
    listed = client.get("/api/v1/incidents?scope=public&limit=100", headers=neighbour).get_json()
    assert private["id"] not in [i["id"] for i in listed["items"]]
    assert client.get(f"/api/v1/uploads/{private['photos'][0]['id']}",
                      headers=neighbour).status_code == 404
    assert act("demo-resident-2", private["id"], "follow", expect=404)["code"] == \
        "incident_not_found"
    # A report filed now, in the category as it is now, is public.
    later = report(category="dispute", description="楼上又漏水了")["id"]
    act("demo-grid-worker", later, "accept")
    assert client.get(f"/api/v1/incidents/{later}", headers=neighbour).get_json()["public_view"]
    # And the other way round: hiding a category keeps what was public public.
    client.put("/api/v1/incident-categories/dispute", headers=people["demo-admin"],
               json={"public": False})
    assert client.get(f"/api/v1/incidents/{later}", headers=neighbour).status_code == 200


# 3. Nobody handles, confirms or rates their own report ---------------------------------

def test_a_grid_workers_own_report_goes_to_another_worker_or_the_staff_queue(
        app, client, world, people, report, auth):
    queued = report(openid="demo-grid-worker")
    assert queued["status"]["code"] == "submitted" and queued["assignee"] is None
    assert [e["action"] for e in queued["timeline"]] == ["report"]
    staff = client.get("/api/v1/incidents?scope=compound&status=submitted",
                       headers=people["demo-staff"]).get_json()["items"]
    assert queued["id"] in [i["id"] for i in staff]
    auth("second-worker")
    second = grant(app, "second-worker", Role.GRID_WORKER, ScopeKind.GRID, world["grids"][0])
    routed = report(openid="demo-grid-worker", description="路灯不亮")
    assert routed["status"]["code"] == "dispatched"
    assert routed["assignee"]["id"] == second


def test_nobody_handles_their_own_report(people, world, make_incident, act, photo):
    own = make_incident(reporter="demo-grid-worker", status=S.DISPATCHED)  # assigned to them
    assert act("demo-grid-worker", own, "accept", expect=403)["code"] == "forbidden"
    accepted = make_incident(reporter="demo-grid-worker", status=S.ACCEPTED)
    assert act("demo-grid-worker", accepted, "start", expect=403)["code"] == "forbidden"
    assert act("demo-grid-worker", accepted, "resolve", expect=403, note="好了",
               photo_ids=[photo(people["demo-grid-worker"])])["code"] == "forbidden"
    # Holding it through a department or as admin does not make it theirs to handle.
    escalated = make_incident(reporter="demo-department", status=S.ESCALATED)
    assert act("demo-department", escalated, "accept", expect=403)["code"] == "forbidden"
    admins = make_incident(reporter="demo-admin", status=S.DISPATCHED)
    assert act("demo-admin", admins, "accept", expect=403)["code"] == "forbidden"
    assert act("demo-grid-worker", admins, "accept")["status"]["code"] == "accepted"
    # Nor can it be handed back to them.
    queued = make_incident(reporter="demo-grid-worker", status=S.SUBMITTED)
    assert act("demo-secretary", queued, "reassign", expect=422,
               assignee_id=world["users"]["demo-grid-worker"])["code"] == "invalid_assignee"


def test_nobody_confirms_rates_or_reopens_what_they_handled_themselves(make_incident, act):
    resolved = make_incident(reporter="demo-grid-worker", status=S.RESOLVED)  # and handled it
    for action, fields in (("confirm", {}), ("rate", {"rating": 5}), ("reopen", {"note": "再看看"})):
        refused = act("demo-grid-worker", resolved, action, expect=403, **fields)
        assert refused["code"] == "forbidden", action
    theirs = make_incident(reporter="demo-resident", status=S.RESOLVED)
    assert act("demo-resident", theirs, "confirm")["status"]["code"] == "closed"


def test_stats_count_self_reported_incidents_separately(client, world, people, make_incident):
    make_incident(reporter="demo-grid-worker", status=S.DISPATCHED)  # reporter = assignee
    make_incident(reporter="demo-secretary", status=S.SUBMITTED)  # a handler of the compound
    make_incident(reporter="demo-resident", status=S.DISPATCHED)
    make_incident(reporter="demo-resident-3", building=("盛世华城", "1号楼"))  # elsewhere
    hq = world["compounds"]["虹桥小区"]
    stats = client.get(f"/api/v1/incidents/stats?compound_id={hq}",
                       headers=people["demo-secretary"]).get_json()
    assert stats["total"] == 3 and stats["self_reported"] == 2
    community = client.get(f"/api/v1/incidents/stats?community_id={world['community']}",
                           headers=people["demo-staff"]).get_json()
    assert community["total"] == 4 and community["self_reported"] == 2


# 4. Who may report where, and how often ------------------------------------------------

def test_only_verified_residents_and_handlers_may_report(app, client, world, people, auth,
                                                         photo, categories):
    hq_2 = world["buildings"][("虹桥小区", "2号楼")]
    before = incident_count(app)
    newcomer = auth("newcomer")
    refused = file(client, newcomer, photo, hq_2, 403)
    assert refused["code"] == "not_a_resident"
    assert "绑定" in refused["message"] and "认证" in refused["message"]
    pending = auth("pending-resident")
    bound = client.put("/api/v1/me/household", headers=pending,
                       json={"building_id": hq_2, "unit": "1", "room": "101"})
    assert bound.status_code == 200 and bound.get_json()["status"]["code"] == "pending"
    assert file(client, pending, photo, hq_2, 403)["code"] == "not_a_resident"
    assert file(client, people["demo-department"], photo, hq_2, 403)["code"] == "not_a_resident"
    assert incident_count(app) == before


def test_residents_report_anywhere_in_their_community_and_handlers_in_their_scope(
        app, client, world, people, photo, categories):
    ss_2 = world["buildings"][("盛世华城", "2号楼")]
    hq_1 = world["buildings"][("虹桥小区", "1号楼")]
    elsewhere = foreign_building(app)
    # 张阿姨 lives in 虹桥小区 and reports in 盛世华城: routed by the building reported.
    there = file(client, people["demo-resident"], photo, ss_2, 201)
    assert there["compound"]["name"] == "盛世华城" and there["building"]["name"] == "2号楼"
    assert there["assignee"]["id"] == world["users"]["demo-grid-worker-2"]
    outside = file(client, people["demo-resident"], photo, elsewhere, 403)
    assert outside["code"] == "outside_community" and outside["message"]
    # Grid workers and secretaries report where they work; staff in their community.
    assert file(client, people["demo-grid-worker"], photo, hq_1, 201)["compound"]["name"] == "虹桥小区"
    for who in ("demo-grid-worker", "demo-secretary"):
        assert file(client, people[who], photo, ss_2, 403)["code"] == "outside_scope", who
    assert file(client, people["demo-secretary-2"], photo, ss_2, 201)["building"]["name"] == "2号楼"
    assert file(client, people["demo-staff"], photo, ss_2, 201)["compound"]["name"] == "盛世华城"
    assert file(client, people["demo-staff"], photo, elsewhere, 403)["code"] == "outside_community"
    # Located by a point: the nearest building decides.
    lat, lng = in_app(app, lambda: (lambda b: (b.lat, b.lng))(db.session.get(Building, elsewhere)))
    by_point = file(client, people["demo-resident"], photo, None, 403, lat=lat, lng=lng)
    assert by_point["code"] == "outside_community"


def test_daily_report_limit_counts_the_shanghai_day(app, client, people, report, monkeypatch):
    monkeypatch.setitem(app.config, "INCIDENT_DAILY_LIMIT", 2)
    midnight = timeutil.day_bounds(timeutil.today())[1]  # the next local midnight
    with time_machine.travel(midnight - timedelta(minutes=30)):
        report()
        report(openid="demo-resident-2")  # another user's reports do not count
        report()
        before = incident_count(app)
        refused = report(expect=429)
        assert refused["code"] == "daily_limit_reached"
        assert "20" not in refused["message"] and "2" in refused["message"]
        assert refused["errors"] == {"limit": 2}
        assert incident_count(app) == before
    # 00:30 in Shanghai is a new day (still the same day in UTC).
    with time_machine.travel(midnight + timedelta(minutes=30)):
        assert report()["status"]["code"] == "dispatched"
    assert app.config["INCIDENT_DAILY_LIMIT"] == 2
