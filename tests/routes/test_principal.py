"""A read resolves its token to a Principal (plain values, one Core query): no ORM user or
grant is built for a list, and a revoked token or grant counts at the very next request."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    AuthToken,
    Compound,
    Department,
    Grid,
    IncidentStatus,
    Role,
    RoleGrant,
    ScopeKind,
    User,
)
from app.models.base import utcnow
from app.services.permissions import Grant, Principal, has_role, home_compound
from tests.helpers import counting_queries, in_app


@pytest.fixture
def loads(app):
    """The ORM instances of User and RoleGrant loaded while the block runs."""
    loaded: list = []

    def record(target, _context):
        loaded.append(type(target).__name__)

    for model in (User, RoleGrant):
        sa.event.listen(model, "load", record)
    yield loaded
    for model in (User, RoleGrant):
        sa.event.remove(model, "load", record)


def items(response) -> list[dict]:
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def test_a_list_builds_no_orm_user_and_costs_two_queries(app, client, people, report, loads):
    mine = report()["id"]
    for who, scope in (("demo-grid-worker", "assigned"), ("demo-resident", "mine"),
                       ("demo-resident-2", "public"), ("demo-secretary", "compound")):
        loads.clear()
        with counting_queries(app) as queries:
            found = items(client.get(f"/api/v1/incidents?scope={scope}", headers=people[who]))
        assert [i["id"] for i in found] == [mine], (who, scope)
        assert found[0]["public_view"] is (who == "demo-resident-2")
        assert loads == [], (who, scope)
        assert len(queries) == 2, queries  # token+user+household+grants, then the page


def test_other_reads_keep_the_orm_user_in_one_query(app, client, people, loads):
    with counting_queries(app) as queries:
        me = client.get("/api/v1/me", headers=people["demo-grid-worker"]).get_json()
    assert me["nickname"] == "赵网格" and me["roles"] == ["grid_worker"]
    assert "User" in loads and "RoleGrant" in loads
    # The token with the user and grants in one query, as before the Principal; no other
    # query reads the grants.
    assert "FROM auth_tokens JOIN users" in queries[0], queries
    assert sum("role_grants" in q for q in queries) == 1, queries


def test_a_principal_read_loads_the_model_only_when_asked(app, people):
    from app.security import current_principal, current_user, login_required

    @login_required(principal=True)
    def view():
        who = current_principal()
        assert isinstance(who, Principal) and who.grants == (
            Grant(Role.GRID_WORKER, ScopeKind.GRID, who.grants[0].scope_id),)
        user = current_user()
        assert isinstance(user, User) and user.id == who.id and current_user() is user
        return [g.role for g in user.grants]

    with counting_queries(app) as queries, app.test_request_context(
            "/x", headers=people["demo-grid-worker"]):
        assert view() == [Role.GRID_WORKER]
        db.session.remove()
    assert len(queries) == 2, queries  # the principal, then the user with their grants


def test_a_revoked_grant_counts_at_the_next_request(app, client, world, people, report):
    mine = report()["id"]
    headers = people["demo-secretary"]
    assert [i["id"] for i in items(client.get("/api/v1/incidents?scope=compound",
                                              headers=headers))] == [mine]

    def revoke():
        db.session.execute(sa.delete(RoleGrant).where(
            RoleGrant.user_id == world["users"]["demo-secretary"]))
        db.session.commit()
    in_app(app, revoke)
    refused = client.get("/api/v1/incidents?scope=compound", headers=headers)
    assert refused.status_code == 403 and refused.get_json()["code"] == "forbidden"
    # The detail's full view went with the grant too: not theirs to see any more.
    gone = client.get(f"/api/v1/incidents/{mine}", headers=headers)
    assert gone.status_code == 404 and gone.get_json()["code"] == "incident_not_found"


def test_a_new_department_grant_shows_its_incidents_at_once(app, client, world, people,
                                                             make_incident):
    escalated = make_incident(status=IncidentStatus.ESCALATED)
    headers = people["demo-secretary"]
    assert items(client.get("/api/v1/incidents?scope=assigned", headers=headers)) == []

    def grant():
        db.session.add(RoleGrant(user_id=world["users"]["demo-secretary"],
                                 role=Role.DEPARTMENT, scope_kind=ScopeKind.DEPARTMENT,
                                 scope_id=world["departments"]["城管"]))
        db.session.commit()
    in_app(app, grant)
    found = items(client.get("/api/v1/incidents?scope=assigned", headers=headers))
    assert [i["id"] for i in found] == [escalated]
    assert found[0]["public_view"] is False and found[0]["department"]["name"] == "城管"


@pytest.mark.parametrize("path", ["/api/v1/incidents?scope=mine", "/api/v1/me"])
def test_revoked_and_expired_tokens_are_refused_on_reads(app, client, people, path):
    headers = people["demo-resident"]
    assert client.get(path, headers=headers).status_code == 200
    token = headers["Authorization"].split()[1]
    assert client.post("/api/v1/auth/logout", headers=headers).status_code in (200, 204)
    revoked = client.get(path, headers=headers)
    assert revoked.status_code == 401 and revoked.get_json()["code"] == "token_revoked"

    other = people["demo-resident-2"]

    def expire():
        db.session.execute(sa.update(AuthToken).where(
            AuthToken.user_id == db.session.scalar(
                sa.select(User.id).where(User.openid == "demo-resident-2")))
            .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    in_app(app, expire)
    expired = client.get(path, headers=other)
    assert expired.status_code == 401 and expired.get_json()["code"] == "token_expired"
    unknown = client.get(path, headers={"Authorization": f"Bearer x{token}"})
    assert unknown.status_code == 401 and unknown.get_json()["code"] == "invalid_token"


def test_one_app_context_across_requests_never_keeps_the_last_user(app, client, people):
    """A test's (or a CLI's) app context outlives a request: each request resolves its own."""
    with app.app_context():
        first = client.get("/api/v1/me", headers=people["demo-resident"]).get_json()
        listed = client.get("/api/v1/incidents?scope=mine", headers=people["demo-staff"])
        second = client.get("/api/v1/me", headers=people["demo-staff"]).get_json()
    assert first["nickname"] == "张阿姨" and listed.status_code == 200
    assert second["nickname"] == "郑社工"


def test_principal_answers_the_checks_as_the_user_does(app, world, people):
    def check():
        targets = [db.session.get(Compound, i) for i in world["compounds"].values()] + \
                  [db.session.get(Grid, i) for i in world["grids"]] + \
                  [db.session.get(Department, i) for i in world["departments"].values()]
        for openid in ("demo-resident", "demo-party-member", "demo-grid-worker",
                       "demo-secretary", "demo-staff", "demo-department", "demo-admin"):
            user = db.session.scalar(sa.select(User).where(User.openid == openid))
            principal = Principal(
                user.id, user.household_id,
                user.household.building_id if user.household else None, home_compound(user),
                tuple(Grant(g.role, g.scope_kind, g.scope_id) for g in user.grants))
            assert principal.roles == user.roles
            for target in (None, *targets):
                for role in Role:
                    assert has_role(principal, role, target) == has_role(user, role, target), \
                        (openid, role, target)
    in_app(app, check)
