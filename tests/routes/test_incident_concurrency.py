"""Simultaneous actions on one incident, with real threads (row lock on PostgreSQL, the write
lock on SQLite): one accept wins, every "me too" counts."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import IncidentEvent, IncidentFollower
from tests.helpers import bearer, login, run_together


def test_one_of_many_simultaneous_accepts_wins(app, world, report, people):
    incident_id = report()["id"]
    worker = people["demo-grid-worker"]

    def accept(_):
        response = app.test_client().post(f"/api/v1/incidents/{incident_id}/transitions",
                                          headers=worker, json={"action": "accept"})
        return response.status_code, response.get_json()["code"] \
            if response.status_code != 200 else None

    outcomes = run_together(6, accept)
    assert sorted(status for status, _ in outcomes) == [200, 409, 409, 409, 409, 409]
    assert [o for o in outcomes if o[0] != 200] == [(409, "invalid_transition")] * 5
    with app.app_context():
        accepts = db.session.scalar(sa.select(sa.func.count()).select_from(IncidentEvent).where(
            IncidentEvent.incident_id == incident_id, IncidentEvent.action == "accept"))
    assert accepts == 1


def test_every_simultaneous_me_too_counts(app, client, world, report, people):
    incident_id = report()["id"]
    building = world["buildings"][("虹桥小区", "2号楼")]
    worker = people["demo-grid-worker"]
    neighbours = []
    for i in range(8):  # eight verified residents of 2号楼 (units 1 and 2, floors 1 to 4)
        headers = bearer(login(client, f"neighbour-{i}"))
        request = client.put("/api/v1/me/household", headers=headers, json={
            "building_id": building, "unit": str(i % 2 + 1), "room": f"{i // 2 + 1}0{i % 2 + 1}"})
        client.post(f"/api/v1/household-requests/{request.get_json()['id']}/transitions",
                    headers=worker, json={"action": "approve"})
        neighbours.append(headers)
    with app.app_context():
        db.session.remove()

    def follow(i):
        return app.test_client().post(f"/api/v1/incidents/{incident_id}/transitions",
                                      headers=neighbours[i], json={"action": "follow"})

    responses = run_together(8, follow)
    assert [r.status_code for r in responses] == [200] * 8
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(IncidentFollower).where(
            IncidentFollower.incident_id == incident_id)) == 8
    final = client.get(f"/api/v1/incidents/{incident_id}", headers=neighbours[0]).get_json()
    assert final["follower_count"] == 8
