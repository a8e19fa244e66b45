"""Nobody approves, logs or earns on their own behalf, over HTTP: staff who are party members
themselves cannot confirm their own 双报到, enter or verify their own service hours; a
secretary cannot approve their own wish; nobody in (or asking to join) the requester's
household claims, fulfils or earns the points of its wish."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import (
    HouseholdMembership,
    MembershipStatus,
    PartyRegistration,
    RegistrationStatus,
    Role,
    RoleGrant,
    ScopeKind,
    User,
    VerifiedBy,
)
from app.models.base import utcnow
from tests.fixtures.canteen import household_of
from tests.fixtures.party import log_row, unverified_log
from tests.fixtures.points import balance
from tests.fixtures.wishes import ledger_entries, wish_row
from tests.helpers import in_app, login_many
from tests.routes.test_errors import assert_envelope


def test_staff_who_are_party_members_decide_nothing_of_their_own(app, client, world, people):
    staff_id, community = world["users"]["demo-staff"], world["community"]

    def second_staff():  # 郑社工 joins the party; 钱社工 is the community's other staff
        staff = db.session.get(User, staff_id)
        staff.grants.append(RoleGrant(role=Role.PARTY_MEMBER))
        colleague = User(openid="staff-b", nickname="钱社工")
        colleague.grants.append(RoleGrant(role=Role.STAFF, scope_kind=ScopeKind.COMMUNITY,
                                          scope_id=community))
        db.session.add(colleague)
        db.session.commit()
    in_app(app, second_staff)
    me, colleague = people["demo-staff"], login_many(app, client, ["staff-b"])[0]
    registration = client.post("/api/v1/party/registrations", headers=me, json={
        "community_id": community, "employer": "社区居委会"}).get_json()
    path = f"/api/v1/party/registrations/{registration['id']}/transitions"
    assert_envelope(client.post(path, headers=me, json={"action": "confirm"}), 403, "self_adjustment")
    status = in_app(app, lambda: db.session.get(PartyRegistration, registration["id"]).status)
    assert status is RegistrationStatus.PENDING
    assert client.post(path, headers=colleague, json={"action": "confirm"}).status_code == 200

    now = utcnow().replace(microsecond=0)
    hours = {"member_id": staff_id, "community_id": community,
             "check_in_at": (now - timedelta(hours=9)).isoformat(),
             "check_out_at": (now - timedelta(hours=1)).isoformat()}
    assert_envelope(client.post("/api/v1/party/logs", headers=me, json=hours), 403, "self_adjustment")
    flagged = unverified_log(app, staff_id, community, now - timedelta(days=2), 3)
    assert_envelope(client.post(f"/api/v1/party/logs/{flagged}/verify", headers=me, json={}), 403,
            "self_adjustment")
    assert log_row(app, flagged).verified_at is None
    assert balance(app, staff_id) == 0
    # Someone else of the community may do both.
    assert client.post("/api/v1/party/logs", headers=colleague, json=hours).status_code == 201
    assert client.post(f"/api/v1/party/logs/{flagged}/verify", headers=colleague,
                       json={}).status_code == 200
    assert balance(app, staff_id) > 0


def _join(app, user_id: int, household_id: int, status: MembershipStatus) -> None:
    """A membership of `user_id` in the household, as the app leaves it: a verified one
    ends their earlier home and makes them a resident there."""
    def work():
        user = db.session.get(User, user_id)
        verified = status is MembershipStatus.VERIFIED
        if verified:
            db.session.execute(sa.update(HouseholdMembership).where(
                HouseholdMembership.user_id == user_id,
                HouseholdMembership.status == MembershipStatus.VERIFIED)
                .values(status=MembershipStatus.LEFT))
            user.household_id = household_id
            if Role.RESIDENT not in {grant.role for grant in user.grants}:
                user.grants.append(RoleGrant(role=Role.RESIDENT))
        db.session.add(HouseholdMembership(
            user_id=user_id, household_id=household_id, status=status,
            verified_by=VerifiedBy.GRID_WORKER if verified else None,
            decided_at=utcnow() if verified else None))
        db.session.commit()
    in_app(app, work)


def test_a_secretary_does_not_approve_their_own_wish(app, client, world, people, wish_post,
                                                     wish_act):
    # 周书记 lives with 李师傅 (虹桥小区 1号楼 1-201), verified there.
    _join(app, world["users"]["demo-secretary"],
          household_of(app, world["users"]["demo-resident-2"]), MembershipStatus.VERIFIED)
    wish_id = wish_post("demo-secretary")["id"]
    assert_envelope(client.post(f"/api/v1/wishes/{wish_id}/transitions", headers=people[
        "demo-secretary"], json={"action": "approve", "check_method": "phone"}), 403,
        "forbidden")
    assert wish_row(app, wish_id).status.value == "pending_review"
    detail = client.get(f"/api/v1/wishes/{wish_id}", headers=people["demo-secretary"])
    assert "approve" not in detail.get_json()["allowed_actions"]


def test_asking_to_join_the_requesters_household_is_enough_to_be_refused_the_claim(
        app, world, people, published_wish, wish_act):
    member = world["users"]["demo-party-member"]
    wish_id = published_wish()
    _join(app, member, household_of(app, world["users"]["demo-resident"]),
          MembershipStatus.PENDING)
    wish_act("demo-party-member", wish_id, "claim", expect=403)
    assert wish_row(app, wish_id).claimer_id is None


def test_joining_the_household_after_claiming_earns_nothing(app, world, people, claimed_wish,
                                                            wish_act, photo):
    member, home = world["users"]["demo-party-member"], household_of(
        app, world["users"]["demo-resident"])
    before_fulfil = claimed_wish()
    after_fulfil = claimed_wish()
    proof = {"note": "已送到", "photo_ids": [photo(people["demo-party-member"])]}
    wish_act("demo-party-member", after_fulfil, "fulfil", **proof)
    _join(app, member, home, MembershipStatus.VERIFIED)

    wish_act("demo-party-member", before_fulfil, "fulfil", expect=403,
             note="已送到", photo_ids=[photo(people["demo-party-member"])])
    assert wish_row(app, before_fulfil).status.value == "claimed"
    refusal = wish_act("demo-resident", after_fulfil, "confirm", expect=409)
    assert refusal["code"] == "claimer_in_household"
    assert wish_row(app, after_fulfil).status.value == "fulfilled"
    assert ledger_entries(app, after_fulfil) == [] and ledger_entries(app, before_fulfil) == []
    # The secretary can still close it with a reason.
    wish_act("demo-secretary", after_fulfil, "cancel", note="认领人已成为本户成员")
    assert wish_row(app, after_fulfil).status.value == "cancelled"
