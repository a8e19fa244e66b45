"""Simultaneous party actions with real threads (the post's and the member's row locks on
PostgreSQL, the write lock on SQLite): thirty members take the last three places of a post
and exactly three get them; a double-scanned check-in opens one log; a double-tapped
check-out earns points once."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.models import ServiceLog, ServicePost, ServiceSignup
from app.models.base import utcnow
from tests.fixtures.party import volunteer_entries
from tests.helpers import in_app, run_together

HOUR = timedelta(hours=1)


def post(app, headers, path, **body):
    response = app.test_client().post(path, headers=headers, json=body or None)
    return response.status_code, response.get_json()


def test_thirty_members_take_the_last_three_places_exactly_three_win(
        app, service_post, party_members):
    crowd = party_members(32)
    place = service_post(headcount=5)
    path = f"/api/v1/service-posts/{place['id']}/signups"
    for early in crowd[:2]:
        assert post(app, early, path)[0] == 201
    outcomes = run_together(30, lambda i: post(app, crowd[2 + i], path))
    statuses = sorted(status for status, _ in outcomes)
    assert statuses == [201] * 3 + [409] * 27, outcomes
    assert {body["code"] for status, body in outcomes if status == 409} == {"post_full"}
    # Each winner is answered after its commit, with the count as it is by then.
    assert all(body["signed_up"] and 3 <= body["signup_count"] <= 5
               for status, body in outcomes if status == 201)

    def stored():
        row = db.session.get(ServicePost, place["id"])
        members = set(db.session.scalars(sa.select(ServiceSignup.member_id).where(
            ServiceSignup.post_id == place["id"])))
        return row.signup_count, members
    signup_count, members = in_app(app, stored)
    winners = {crowd.ids[2 + i] for i, (status, _) in enumerate(outcomes) if status == 201}
    assert signup_count == 5 and members == set(crowd.ids[:2]) | winners


def test_a_double_scan_checks_in_once_and_a_double_tap_checks_out_once(
        app, world, people, service_post, confirmed_member, qr_tokens):
    confirmed_member()
    member = people["demo-party-member"]
    start = utcnow().replace(microsecond=0) + HOUR
    place = service_post(start=start, lasts=3 * HOUR)
    base = f"/api/v1/service-posts/{place['id']}"
    assert post(app, member, base + "/signups")[0] == 201
    with time_machine.travel(start, tick=False):
        token = qr_tokens(place["id"])["check_in"]
        ins = run_together(2, lambda _: post(app, member, base + "/check-in", token=token))
    assert [status for status, _ in ins] == [200, 200], ins
    assert ins[0][1]["id"] == ins[1][1]["id"]
    assert in_app(app, lambda: db.session.scalar(
        sa.select(sa.func.count()).select_from(ServiceLog))) == 1
    with time_machine.travel(start + 2 * HOUR, tick=False):
        token = qr_tokens(place["id"])["check_out"]
        outs = run_together(2, lambda _: post(app, member, base + "/check-out", token=token))
    assert [status for status, _ in outs] == [200, 200], outs
    assert {body["hours"] for _, body in outs} == {"2.0"}
    assert volunteer_entries(app, ins[0][1]["id"]) == [(world["users"]["demo-party-member"], 10)]
