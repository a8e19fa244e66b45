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
