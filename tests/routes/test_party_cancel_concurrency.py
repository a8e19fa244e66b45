"""Giving a place back while others race for it, with real threads over HTTP (the post's
row lock on PostgreSQL, the write lock on SQLite): the counter always equals the sign-ups
and never passes the headcount; a double-tapped cancel frees one place."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import ServicePost, ServiceSignup
from tests.helpers import in_app, run_together


def post(app, headers, path):
    response = app.test_client().post(path, headers=headers)
    return response.status_code, response.get_json()


def stored(app, post_id: int) -> tuple[int, set[int]]:
    def work():
        count = db.session.get(ServicePost, post_id).signup_count
        members = set(db.session.scalars(sa.select(ServiceSignup.member_id).where(
            ServiceSignup.post_id == post_id)))
        return count, members
    return in_app(app, work)


def test_a_cancel_racing_ten_sign_ups_frees_one_place_taken_at_most_once(
        app, service_post, party_members):
    crowd = party_members(13)
    place = service_post(headcount=3)
    base = f"/api/v1/service-posts/{place['id']}/signups"
    for member in crowd[:3]:
        assert post(app, member, base)[0] == 201
    outcomes = run_together(11, lambda i: post(app, crowd[0], base + "/cancel") if i == 0
                            else post(app, crowd[2 + i], base))
    assert outcomes[0][0] == 200, outcomes[0]
    winners = {crowd.ids[2 + i] for i, (status, _) in enumerate(outcomes) if i and status == 201}
    assert len(winners) <= 1, outcomes
    assert {body["code"] for i, (status, body) in enumerate(outcomes)
            if i and status != 201} <= {"post_full"}
    count, members = stored(app, place["id"])
    assert members == {crowd.ids[1], crowd.ids[2]} | winners
    assert count == len(members) <= 3


def test_a_double_tapped_cancel_frees_one_place(app, service_post, party_members):
    crowd = party_members(2)
    place = service_post(headcount=2)
    base = f"/api/v1/service-posts/{place['id']}/signups"
    for member in crowd:
        assert post(app, member, base)[0] == 201
    outcomes = run_together(2, lambda _: post(app, crowd[0], base + "/cancel"))
    assert sorted(status for status, _ in outcomes) == [200, 409], outcomes
    assert [body["code"] for status, body in outcomes if status == 409] == ["not_signed_up"]
    assert stored(app, place["id"]) == (1, {crowd.ids[1]})
