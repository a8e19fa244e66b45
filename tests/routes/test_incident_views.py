"""What a mini-program page needs from an incident: the reporter's mask, the viewer's
allowed actions, timeline labels, list thumbnails and department names, one list shape."""
from __future__ import annotations

from tests.helpers import counting_queries


def detail(client, headers, incident_id) -> dict:
    response = client.get(f"/api/v1/incidents/{incident_id}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def item(client, headers, scope, incident_id) -> dict:
    response = client.get(f"/api/v1/incidents?scope={scope}&limit=100", headers=headers)
    assert response.status_code == 200, response.get_json()
    return next(i for i in response.get_json()["items"] if i["id"] == incident_id)


def test_the_public_mask_names_the_reporters_own_building(client, world, people, report, act):
    elsewhere = world["buildings"][("虹桥小区", "2号楼")]
    incident_id = report(building_id=elsewhere)["id"]  # 张阿姨 lives in 1号楼
    act("demo-grid-worker", incident_id, "accept")
    neighbour = people["demo-resident-2"]
    seen = detail(client, neighbour, incident_id)
    assert seen["building"]["name"] == "2号楼"
    assert seen["reporter"] == {"name": "1号楼住户"}
    assert item(client, neighbour, "public", incident_id)["reporter"] == {"name": "1号楼住户"}
    handler = detail(client, people["demo-grid-worker"], incident_id)["reporter"]
    assert handler == {"id": world["users"]["demo-resident"], "name": "张阿姨", "building": "1号楼"}
    hidden = report(anonymous=True, building_id=elsewhere)["id"]
    act("demo-grid-worker", hidden, "accept")
    assert detail(client, neighbour, hidden)["reporter"] == {"name": "居民"}
    assert detail(client, people["demo-grid-worker"], hidden)["reporter"] == {"name": "匿名居民"}


def test_detail_lists_what_the_viewer_may_do(client, people, report, act, photo):
    incident_id = report()["id"]
    actions = lambda who: detail(client, people[who], incident_id)["allowed_actions"]  # noqa: E731
    assert actions("demo-grid-worker") == ["accept", "escalate", "comment"]
    assert actions("demo-resident") == ["comment"]
    assert actions("demo-staff") == ["reassign", "reject", "comment"]
    assert actions("demo-resident-2") == ["follow"]  # a neighbour, in the public view
    act("demo-grid-worker", incident_id, "accept")
    act("demo-resident-2", incident_id, "follow")
    assert actions("demo-resident-2") == []  # following already
    assert actions("demo-grid-worker") == ["start", "resolve", "escalate", "comment"]
    resolved = act("demo-grid-worker", incident_id, "resolve", note="已清运",
                   photo_ids=[photo(people["demo-grid-worker"])])
    assert resolved["allowed_actions"] == ["comment"]  # the answer is the actor's view
    assert actions("demo-resident") == ["confirm", "reopen", "rate", "comment"]
    act("demo-resident", incident_id, "rate", rating=4)
    assert actions("demo-resident") == ["confirm", "reopen", "comment"]  # rated already


def test_timeline_entries_carry_a_chinese_label(client, people, report, act):
    created = report()
    assert [(e["action"], e["label"]) for e in created["timeline"]] == [
        ("report", "上报问题"), ("dispatch", "已派单")]
    act("demo-grid-worker", created["id"], "accept")
    public = detail(client, people["demo-resident-2"], created["id"])["timeline"]
    assert [e["label"] for e in public] == ["上报问题", "已派单", "已接单"]


def test_list_items_carry_a_thumbnail_and_the_department(client, world, people, report, act,
                                                         photo, make_incident):
    created = report()
    incident_id, first = created["id"], created["photos"][0]["id"]
    act("demo-grid-worker", incident_id, "accept")
    act("demo-grid-worker", incident_id, "escalate", note="需要执法",
        department_id=world["departments"]["城管"])
    mine = item(client, people["demo-resident"], "mine", incident_id)
    assert f"/api/v1/uploads/{first}/content?t=" in mine["thumbnail_url"]
    image = client.get(mine["thumbnail_url"])
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    cg = world["departments"]["城管"]
    assert mine["department"] == {"id": cg, "name": "城管"} and mine["department_id"] == cg
    public = item(client, people["demo-resident-2"], "public", incident_id)
    assert f"/api/v1/uploads/{first}/content?t=" in public["thumbnail_url"]
    assert public["department"] is None and public["department_id"] is None
    bare = make_incident()  # no photos
    plain = item(client, people["demo-resident"], "mine", bare)
    assert plain["thumbnail_url"] is None and plain["department"] is None


def test_a_public_viewer_gets_no_thumbnail_of_the_handlers_photos(client, people, report,
                                                                  act, photo):
    """A report without photos has no thumbnail, even once the proof photos are in."""
    created = report(photo_ids=[])
    act("demo-grid-worker", created["id"], "accept")
    act("demo-grid-worker", created["id"], "resolve", note="好了",
        photo_ids=[photo(people["demo-grid-worker"])])
    assert item(client, people["demo-resident-2"], "public", created["id"])["thumbnail_url"] is None


def test_every_incident_list_answers_items_and_next_cursor(client, people, report):
    report(lat=38.70500, lng=111.56250)
    headers = people["demo-resident-2"]
    nearby = client.get("/api/v1/incidents/nearby?lat=38.70550&lng=111.56250",
                        headers=headers).get_json()
    assert set(nearby) == {"items", "next_cursor"} and nearby["next_cursor"] is None
    assert len(nearby["items"]) == 1 and "thumbnail_url" in nearby["items"][0]
    for scope in ("mine", "public", "following"):
        page = client.get(f"/api/v1/incidents?scope={scope}", headers=headers).get_json()
        assert set(page) == {"items", "next_cursor"}, scope


def test_lists_with_thumbnails_stay_at_a_fixed_number_of_queries(app, client, people, report,
                                                                 act, backlog):
    for _ in range(3):
        incident_id = report()["id"]
        act("demo-grid-worker", incident_id, "accept")
        act("demo-resident-2", incident_id, "follow")
    # The process reads the names it shows once (test_incident_lists counts that).
    client.get("/api/v1/incidents?scope=compound&limit=50", headers=people["demo-staff"])
    for who, scope, least in (("demo-staff", "compound", 30), ("demo-resident-2", "following", 3)):
        with counting_queries(app) as queries:
            items = client.get(f"/api/v1/incidents?scope={scope}&limit=50",
                               headers=people[who]).get_json()["items"]
        assert len(items) >= least
        assert sum(1 for i in items if i["thumbnail_url"]) >= 3
        assert len(queries) <= 2, queries  # token+user+grants, then the page itself
