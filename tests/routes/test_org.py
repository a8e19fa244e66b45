"""Compounds with buildings (keyset pages); binding a household: tests/routes/test_households.py."""
from __future__ import annotations

from tests.helpers import counting_queries


def test_compounds_page_through_with_buildings(client, world, auth):
    headers = auth("demo-resident")
    first = client.get("/api/v1/compounds?limit=1", headers=headers).get_json()
    assert [c["name"] for c in first["items"]] == ["虹桥小区"]
    assert [b["name"] for b in first["items"][0]["buildings"]] == ["1号楼", "2号楼", "3号楼"]
    assert first["next_cursor"]
    second = client.get(f"/api/v1/compounds?limit=1&cursor={first['next_cursor']}",
                        headers=headers).get_json()
    assert [c["name"] for c in second["items"]] == ["盛世华城"]
    if second["next_cursor"]:
        third = client.get(f"/api/v1/compounds?limit=1&cursor={second['next_cursor']}",
                           headers=headers).get_json()
        assert third == {"items": [], "next_cursor": None}
    everything = client.get("/api/v1/compounds", headers=headers).get_json()
    assert len(everything["items"]) == 2 and everything["next_cursor"] is None


def test_compounds_need_login_and_a_valid_cursor(client, world, auth):
    assert client.get("/api/v1/compounds").status_code == 401
    bad = client.get("/api/v1/compounds?cursor=%%%", headers=auth("x"))
    assert bad.status_code == 422 and bad.get_json()["code"] == "invalid_cursor"
    not_int = client.get("/api/v1/compounds?cursor=ImEi", headers=auth("x"))  # "a" in JSON
    assert not_int.status_code == 422 and not_int.get_json()["code"] == "invalid_cursor"


def test_compounds_list_costs_a_fixed_number_of_queries(app, client, world, auth):
    headers = auth("demo-resident")
    with counting_queries(app) as queries:
        client.get("/api/v1/compounds", headers=headers)
    # token+user+grants, compounds, buildings; the household is loaded by nobody here.
    assert len(queries) <= 4, queries


# --- choices for escalate and reassign ---------------------------------------------------

def test_departments_page_through_with_their_street(client, world, people):
    headers = people["demo-grid-worker"]
    first = client.get("/api/v1/departments?limit=1", headers=headers).get_json()
    assert first["items"] == [{"id": world["departments"]["城管"], "name": "城管",
                               "street": {"id": first["items"][0]["street"]["id"],
                                          "name": "岚城街道"}}]
    second = client.get(f"/api/v1/departments?limit=1&cursor={first['next_cursor']}",
                        headers=headers).get_json()
    assert [d["name"] for d in second["items"]] == ["住建"]
    everything = client.get("/api/v1/departments", headers=people["demo-resident"]).get_json()
    assert [d["id"] for d in everything["items"]] == sorted(world["departments"].values())
    assert everything["next_cursor"] is None
    assert client.get("/api/v1/departments").status_code == 401


def test_grid_workers_of_a_compound_for_its_staff_and_secretary(client, world, people):
    hongqiao = world["compounds"]["虹桥小区"]
    users = world["users"]
    for viewer in ("demo-staff", "demo-secretary", "demo-admin"):
        response = client.get(f"/api/v1/compounds/{hongqiao}/grid-workers", headers=people[viewer])
        assert response.status_code == 200, (viewer, response.get_json())
        body = response.get_json()
        # Every grid worker of the community (reassign accepts them all), with their grid
        # and whether it covers this compound.
        assert body == {"next_cursor": None, "items": [
            {"id": users["demo-grid-worker"], "nickname": "赵网格", "in_compound": True,
             "grid": {"id": world["grids"][0], "name": "第一网格"}},
            {"id": users["demo-grid-worker-2"], "nickname": "孙网格", "in_compound": False,
             "grid": {"id": world["grids"][1], "name": "第二网格"}}]}
    page = client.get(f"/api/v1/compounds/{hongqiao}/grid-workers?limit=1",
                      headers=people["demo-staff"]).get_json()
    rest = client.get(f"/api/v1/compounds/{hongqiao}/grid-workers?limit=1&cursor="
                      f"{page['next_cursor']}", headers=people["demo-staff"]).get_json()
    assert [w["nickname"] for w in page["items"] + rest["items"]] == ["赵网格", "孙网格"]


def test_grid_workers_are_403_for_anyone_else_and_404_for_no_compound(client, world, people):
    hongqiao = world["compounds"]["虹桥小区"]
    for outsider in ("demo-resident", "demo-grid-worker", "demo-secretary-2", "demo-department",
                     "demo-canteen"):
        response = client.get(f"/api/v1/compounds/{hongqiao}/grid-workers",
                              headers=people[outsider])
        assert response.status_code == 403, outsider
        assert response.get_json()["code"] == "forbidden"
    missing = client.get("/api/v1/compounds/999999/grid-workers", headers=people["demo-staff"])
    assert missing.status_code == 404 and missing.get_json()["code"] == "compound_not_found"
