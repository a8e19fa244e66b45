"""Simultaneous first logins create one user; simultaneous address requests create no
household and simultaneous approvals verify once; never a 500."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import Household, HouseholdMembership, MembershipStatus, RoleGrant, User
from tests.helpers import bearer, login, run_together


def test_simultaneous_first_logins_create_one_user(app, ctx):
    def work(_):
        response = app.test_client().post("/api/v1/auth/login",
                                          json={"code": "sandbox:rush"})
        return response.status_code, response.get_json()["user"]["id"]

    results = run_together(8, work)
    assert {status for status, _ in results} == {200}
    assert len({user_id for _, user_id in results}) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
    # A login grants no role: residents are made by a verified household membership.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RoleGrant)) == 0


def test_simultaneous_requests_to_one_address_create_no_household(app, world, ctx):
    tokens = [login(app.test_client(), f"family-{i}") for i in range(6)]
    building = world["buildings"][("虹桥小区", "2号楼")]
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Household))
    db.session.remove()  # the logins ran in this test's app context: end its transaction

    def work(i):
        return app.test_client().put("/api/v1/me/household", headers=bearer(tokens[i]), json={
            "building_id": building, "unit": "1", "room": "201"}).status_code

    assert run_together(6, work) == [200] * 6
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Household)) == before
    pending = db.session.scalars(sa.select(HouseholdMembership.status).join(
        User, User.id == HouseholdMembership.user_id).where(User.openid.like("family-%"))).all()
    assert pending == [MembershipStatus.PENDING] * 6
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User).where(
        User.household_id.is_not(None), User.openid.like("family-%"))) == 0


def test_one_user_asking_many_times_at_once_keeps_one_open_request(app, world, ctx):
    token = login(app.test_client(), "impatient")
    building = world["buildings"][("虹桥小区", "2号楼")]
    db.session.remove()

    def work(i):
        return app.test_client().put("/api/v1/me/household", headers=bearer(token), json={
            "building_id": building, "unit": "2", "room": f"{i % 4 + 1}02"}).status_code

    assert run_together(6, work) == [200] * 6
    statuses = sorted(s.value for s in db.session.scalars(
        sa.select(HouseholdMembership.status).join(User, User.id == HouseholdMembership.user_id)
        .where(User.openid == "impatient")))
    assert statuses == ["pending"] + ["withdrawn"] * 5


def test_simultaneous_approvals_verify_once(app, world, ctx):
    client = app.test_client()
    requester = bearer(login(client, "approve-me"))
    building = world["buildings"][("虹桥小区", "3号楼")]
    membership = client.put("/api/v1/me/household", headers=requester, json={
        "building_id": building, "unit": "1", "room": "101"}).get_json()["id"]
    approvers = [bearer(login(client, openid)) for openid in
                 ("demo-grid-worker", "demo-secretary", "demo-staff") * 2]
    db.session.remove()

    def work(i):
        response = app.test_client().post(
            f"/api/v1/household-requests/{membership}/transitions", headers=approvers[i],
            json={"action": "approve"})
        return response.status_code, response.get_json()["code"] \
            if response.status_code != 200 else None

    outcomes = run_together(6, work)
    assert sorted(status for status, _ in outcomes) == [200] + [409] * 5
    assert {code for status, code in outcomes if status == 409} == {"invalid_transition"}
    user = db.session.scalar(sa.select(User).where(User.openid == "approve-me"))
    assert [g.role.value for g in user.grants] == ["resident"]
    assert user.household_id is not None
