"""Simultaneous first logins and address bindings create one row, never a 500."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import Household, RoleGrant, User
from tests.conftest import bearer, login, run_together


def test_simultaneous_first_logins_create_one_user(app, ctx):
    def work(_):
        response = app.test_client().post("/api/v1/auth/login",
                                          json={"code": "sandbox:rush"})
        return response.status_code, response.get_json()["user"]["id"]

    results = run_together(8, work)
    assert {status for status, _ in results} == {200}
    assert len({user_id for _, user_id in results}) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RoleGrant)) == 1


def test_simultaneous_bindings_to_one_address_create_one_household(app, demo, ctx):
    tokens = [login(app.test_client(), f"family-{i}") for i in range(6)]
    building = demo["buildings"][("虹桥小区", "2号楼")]
    db.session.remove()  # the logins ran in this test's app context: end its transaction

    def work(i):
        return app.test_client().put("/api/v1/me/household", headers=bearer(tokens[i]), json={
            "building_id": building, "unit": "9", "room": "909"}).status_code

    assert run_together(6, work) == [200] * 6
    households = db.session.scalars(sa.select(Household).where(
        Household.building_id == building, Household.room == "909")).all()
    assert len(households) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User).where(
        User.household_id == households[0].id)) == 6
