"""Incident lists by scope, nearby duplicates, statistics."""
from __future__ import annotations

from datetime import datetime

from app.models.base import utcnow
from tests.helpers import counting_queries


def ids(response) -> list[int]:
    assert response.status_code == 200, response.get_json()
    return [i["id"] for i in response.get_json()["items"]]


def test_scopes_show_each_role_its_own(client, world, people, report):
    mine = report()["id"]
    other_compound = report(openid="demo-resident-3",
                            building_id=world["buildings"][("盛世华城", "1号楼")])["id"]
    get = lambda who, q: ids(client.get(f"/api/v1/incidents?{q}&limit=100",  # noqa: E731
                                        headers=people[who]))
    assert mine in get("demo-resident", "scope=mine")
    assert other_compound not in get("demo-resident", "scope=mine")
    assert mine in get("demo-grid-worker", "scope=assigned")
    assert other_compound not in get("demo-grid-worker", "scope=assigned")
    assert other_compound in get("demo-grid-worker-2", "scope=assigned")
    assert mine in get("demo-secretary", "scope=compound")
    assert other_compound not in get("demo-secretary", "scope=compound")
    staff = get("demo-staff", "scope=compound")
    assert mine in staff and other_compound in staff
    assert mine in get("demo-resident-2", "scope=public")  # dispatched: visible, masked
    assert other_compound not in get("demo-resident-2", "scope=public")
    forbidden = client.get("/api/v1/incidents?scope=compound", headers=people["demo-resident"])
    assert forbidden.status_code == 403


def test_filters_and_pagination(client, people, report, backlog):
    fresh = {report()["id"] for _ in range(3)}
    headers = people["demo-resident"]
    first = client.get("/api/v1/incidents?scope=mine&limit=2", headers=headers).get_json()
    second = client.get(f"/api/v1/incidents?scope=mine&limit=2&cursor={first['next_cursor']}",
                        headers=headers).get_json()
    page_ids = [i["id"] for i in first["items"] + second["items"]]
    assert page_ids == sorted(page_ids, reverse=True) and len(set(page_ids)) == len(page_ids)
    dispatched = client.get("/api/v1/incidents?scope=mine&status=dispatched&category=environment"
                            "&limit=100", headers=headers).get_json()["items"]
    assert dispatched and all(i["status"]["code"] == "dispatched" and
                              i["category"]["code"] == "environment" for i in dispatched)
    overdue = client.get("/api/v1/incidents?scope=compound&overdue=true&limit=100",
                         headers=people["demo-staff"]).get_json()["items"]
    assert overdue  # the backlog has incidents past their deadlines
    now, at = utcnow(), datetime.fromisoformat
    assert not fresh & {i["id"] for i in overdue}  # just filed: within both deadlines
    assert all(i["status"]["code"] not in ("resolved", "closed", "rejected") and (
        at(i["resolve_by"]) < now or (i["responded_at"] is None and at(i["respond_by"]) < now))
        for i in overdue)
    bad = client.get("/api/v1/incidents?scope=everything", headers=headers)
    assert bad.status_code == 422 and bad.get_json()["code"] == "validation_error"


def test_list_costs_a_fixed_number_of_queries(app, client, people, report, backlog):
    report()
    url, headers = "/api/v1/incidents?scope=compound&limit=50", people["demo-staff"]
    with counting_queries(app) as cold:
        first = client.get(url, headers=headers).get_json()["items"]
    with counting_queries(app) as queries:
        items = client.get(url, headers=headers).get_json()["items"]
    assert len(items) >= 30 and items == first
    assert len(queries) <= 2, queries  # token+user+grants, then the page itself
    # The first page a process serves reads the names it shows once, a query per table:
    # categories, compounds, buildings, departments.
    assert len(cold) <= 2 + 4, cold


def test_nearby_finds_open_incidents_of_the_category_within_200m(client, world, people, report):
    near = report(lat=38.70500, lng=111.56250)["id"]
    report(lat=38.70500, lng=111.56250, category="parking", description="占道停车")
    headers = people["demo-resident-2"]
    found = ids(client.get("/api/v1/incidents/nearby?lat=38.70550&lng=111.56250"
                           "&category=environment", headers=headers))
    assert near in found  # about 55 m away
    far = ids(client.get("/api/v1/incidents/nearby?lat=38.71000&lng=111.56250"
                         "&category=environment", headers=headers))
    assert near not in far  # about 550 m away
    outsider = ids(client.get("/api/v1/incidents/nearby?lat=38.70550&lng=111.56250"
                              "&category=environment", headers=people["demo-resident-3"]))
    assert near not in outsider  # another compound's residents do not see it


def test_stats_for_secretaries_and_staff(client, world, people, report, act, photo,
                                          backlog):
    incident_id = report()["id"]
    act("demo-grid-worker", incident_id, "accept")
    act("demo-grid-worker", incident_id, "resolve", note="好了",
        photo_ids=[photo(people["demo-grid-worker"])])
    hq = world["compounds"]["虹桥小区"]
    response = client.get(f"/api/v1/incidents/stats?compound_id={hq}",
                          headers=people["demo-secretary"])
    stats = response.get_json()
    assert response.status_code == 200
    assert stats["total"] >= 1 and stats["by_status"]["resolved"] >= 1
    assert 0 <= stats["on_time_response_rate"] <= 1
    assert stats["median_response_minutes"] is not None
    assert stats["top_categories"][0]["count"] >= 1
    assert {"id", "status", "resolve_by"} <= set(stats["overdue"][0])
    other = world["compounds"]["盛世华城"]
    assert client.get(f"/api/v1/incidents/stats?compound_id={other}",
                      headers=people["demo-secretary"]).status_code == 403
    community = client.get(f"/api/v1/incidents/stats?community_id={world['community']}"
                           "&from=2026-01-01&to=2026-12-31", headers=people["demo-staff"])
    assert community.status_code == 200 and community.get_json()["total"] >= stats["total"]
    assert client.get("/api/v1/incidents/stats", headers=people["demo-staff"]).status_code == 422
    assert client.get(f"/api/v1/incidents/stats?compound_id={hq}",
                      headers=people["demo-resident"]).status_code == 403


def test_categories_list(client, people, categories):
    items = client.get("/api/v1/incident-categories",
                       headers=people["demo-resident"]).get_json()["items"]
    assert [c["name"] for c in items][:3] == ["环境卫生", "设施损坏", "噪音扰民"]
    dispute = next(c for c in items if c["code"] == "dispute")
    assert dispute["public"] is False and dispute["anonymous_allowed"] is False
    assert {c["respond_hours"] for c in items} == {1}


def test_admin_manages_categories_and_others_may_not(client, world, people, report):
    new = {"code": "elevator", "name": "电梯故障", "respond_hours": 0.5, "resolve_hours": 8,
           "default_department_id": world["departments"]["住建"], "anonymous_allowed": False}
    for who in ("demo-resident", "demo-staff"):  # categories are global: admin only
        assert client.post("/api/v1/incident-categories", headers=people[who],
                           json=new).status_code == 403
    created = client.post("/api/v1/incident-categories", headers=people["demo-admin"], json=new)
    assert created.status_code == 201 and created.get_json()["respond_hours"] == 0.5
    again = client.post("/api/v1/incident-categories", headers=people["demo-admin"], json=new)
    assert again.status_code == 409 and again.get_json()["code"] == "category_exists"
    bad = client.put("/api/v1/incident-categories/elevator", headers=people["demo-admin"],
                     json={"respond_hours": 10, "resolve_hours": 2})
    assert bad.status_code == 422 and bad.get_json()["code"] == "invalid_sla"
    assert client.put("/api/v1/incident-categories/nope", headers=people["demo-admin"],
                      json={"name": "x"}).status_code == 404
    # A report in the new category gets its SLA.
    filed = report(category="elevator", description="2号电梯停在半层")
    assert filed["category"]["name"] == "电梯故障"
    hidden = client.put("/api/v1/incident-categories/elevator", headers=people["demo-admin"],
                        json={"active": False})
    assert hidden.status_code == 200 and hidden.get_json()["active"] is False
    codes = [c["code"] for c in client.get("/api/v1/incident-categories",
                                           headers=people["demo-resident"]).get_json()["items"]]
    assert "elevator" not in codes
    # Hours left out: the defaults (respond within an hour, resolve within a day).
    plain = client.post("/api/v1/incident-categories", headers=people["demo-admin"],
                        json={"code": "pets", "name": "宠物扰民"})
    assert plain.status_code == 201, plain.get_json()
    assert (plain.get_json()["respond_hours"], plain.get_json()["resolve_hours"]) == (1, 24)
    assert report(expect=422, category="elevator")["code"] == "unknown_category"
