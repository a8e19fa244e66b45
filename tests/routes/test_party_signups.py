"""Giving a service-post place back over HTTP (before the start, not once checked in), and
the party-checkouts job telling the community's staff about the logs it flagged: one
message per staff member a run, however many logs."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.jobs import get_job
from app.jobs.runner import run_job
from app.models import Notification, Role, RoleGrant, ScopeKind, ServiceSignup, User
from app.models.base import utcnow
from tests.fixtures.wishes import notified
from tests.helpers import in_app, login_many

HOUR = timedelta(hours=1)


def call(client, path: str, headers: dict, expect: int, method: str = "post", **body) -> dict:
    response = getattr(client, method)(path, headers=headers, json=body or None)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def signups(app, post_id: int) -> set[int]:
    return set(in_app(app, lambda: db.session.scalars(
        sa.select(ServiceSignup.member_id).where(ServiceSignup.post_id == post_id))))


def test_a_member_gives_a_place_back_before_the_start_and_someone_else_takes_it(
        app, client, world, people, service_post, party_members, qr_tokens):
    crowd = party_members(3)
    start = utcnow().replace(microsecond=0) + 2 * HOUR
    post = service_post(start=start, headcount=2)
    base = f"/api/v1/service-posts/{post['id']}"
    call(client, base + "/signups", crowd[0], 201)
    call(client, base + "/signups", crowd[1], 201)
    assert call(client, base + "/signups", crowd[2], 409)["code"] == "post_full"

    cancelled = call(client, base + "/signups/cancel", crowd[0], 200)
    assert (cancelled["signed_up"], cancelled["signup_count"], cancelled["remaining"]) == (
        False, 1, 1)
    assert signups(app, post["id"]) == {crowd.ids[1]}
    assert call(client, base + "/signups/cancel", crowd[0], 409)["code"] == "not_signed_up"
    assert call(client, base + "/signups/cancel", crowd[2], 409)["code"] == "not_signed_up"
    assert call(client, base + "/signups", crowd[2], 201)["remaining"] == 0  # the freed place
    listed = call(client, f"/api/v1/service-posts?community_id={world['community']}",
                  crowd[0], 200, method="get")["items"][0]
    assert (listed["signed_up"], listed["remaining"]) == (False, 0)
    me = call(client, "/api/v1/party/me", crowd[0], 200, method="get")
    assert me["signups"] == []
    assert call(client, "/api/v1/service-posts/999999/signups/cancel", crowd[0], 404)["code"] \
        == "post_not_found"

    # Once checked in (half an hour before the start) the place is not given back...
    with time_machine.travel(start - timedelta(minutes=20), tick=False):
        fresh = login_many(app, client, ["member-1", "member-2"])
        call(client, base + "/check-in", fresh[0], 200, token=qr_tokens(post["id"])["check_in"])
        refused = call(client, base + "/signups/cancel", fresh[0], 409)
        assert refused["code"] == "already_checked_in" and refused["message"]
    # ...nor once the post has started.
    with time_machine.travel(start + timedelta(minutes=1), tick=False):
        assert call(client, base + "/signups/cancel", fresh[1], 409)["code"] == "post_started"
    assert signups(app, post["id"]) == {crowd.ids[1], crowd.ids[2]}
    stored = call(client, f"/api/v1/service-posts?community_id={world['community']}",
                  crowd[1], 200, method="get")["items"][0]
    assert stored["signup_count"] == 2


def test_the_checkouts_job_tells_each_staff_member_once_per_run(
        app, client, world, people, service_post, party_members, qr_tokens, other_community):
    crowd = party_members(3)
    community = world["community"]

    def second_staff():
        user = User(openid="staff-b", nickname="冯社工")
        user.grants.append(RoleGrant(role=Role.STAFF, scope_kind=ScopeKind.COMMUNITY,
                                     scope_id=community))
        db.session.add(user)
        db.session.commit()
        return user.id
    feng = in_app(app, second_staff)
    zheng = world["users"]["demo-staff"]
    start = utcnow().replace(microsecond=0) + HOUR
    posts = [service_post(start=start, lasts=2 * HOUR), service_post(start=start, lasts=3 * HOUR)]
    for place in posts:
        for headers in crowd[:2]:
            call(client, f"/api/v1/service-posts/{place['id']}/signups", headers, 201)
    with time_machine.travel(start, tick=False):
        fresh = login_many(app, client, ["member-0", "member-1"])
        for headers in fresh:  # checked in at the first post, never checked out
            call(client, f"/api/v1/service-posts/{posts[0]['id']}/check-in", headers, 200,
                 token=qr_tokens(posts[0]["id"])["check_in"])
    with time_machine.travel(start + 2 * HOUR + timedelta(minutes=5), tick=False):
        assert in_app(app, lambda: run_job(get_job("party-checkouts"), "test")) == {
            "closed": 2, "staff_told": 2}
        assert in_app(app, lambda: run_job(get_job("party-checkouts"), "test")) == {
            "closed": 0, "staff_told": 0}
    for staff in (zheng, feng):
        told = notified(app, staff, "party_logs_flagged")
        assert len(told) == 1, told
        assert told[0]["count"] == 2 and told[0]["community_id"] == community
    # 党员0 checks in at the second post after the first one's end and forgets to check out
    # there too: the next run is one more message each.
    with time_machine.travel(start + 2 * HOUR + timedelta(minutes=10), tick=False):
        fresh = login_many(app, client, ["member-0"])
        call(client, f"/api/v1/service-posts/{posts[1]['id']}/check-in", fresh[0], 200,
             token=qr_tokens(posts[1]["id"])["check_in"])
    with time_machine.travel(start + 3 * HOUR + timedelta(minutes=1), tick=False):
        assert in_app(app, lambda: run_job(get_job("party-checkouts"), "test")) == {
            "closed": 1, "staff_told": 2}
    assert [t["count"] for t in notified(app, zheng, "party_logs_flagged")] == [2, 1]
    # Nobody else hears of it: not another community's staff, not the members.
    other_staff = in_app(app, lambda: db.session.scalar(
        sa.select(User.id).where(User.openid == "staff-2")))
    assert in_app(app, lambda: db.session.scalar(
        sa.select(sa.func.count()).select_from(Notification).where(
            Notification.template_key == "party_logs_flagged",
            Notification.user_id.not_in([zheng, feng])))) == 0
    assert notified(app, other_staff, "party_logs_flagged") == []
    inbox = call(client, "/api/v1/inbox", people["demo-staff"], 200, method="get")
    flagged = [i for i in inbox["items"] if i["title"] == "服务记录待核实"]
    assert flagged and "未签退" in flagged[0]["text"]
