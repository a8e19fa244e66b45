"""双报到 and service hours over HTTP: registering, confirming and transferring; posts and
sign-ups; check-in and check-out with the rotating QR token; manual entries; the missing
check-out job and staff verification; points once per log; my year against the bar."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import sqlalchemy as sa
import time_machine
from itsdangerous import URLSafeTimedSerializer

from app.extensions import db
from app.jobs import get_job
from app.jobs import party as party_jobs
from app.jobs.runner import run_job
from app.models import (
    Community,
    LogSource,
    Notification,
    PartyMember,
    PartyRegistration,
    RegistrationStatus,
    Role,
    RoleGrant,
    ScopeKind,
    ServiceLog,
    ServiceSignup,
    User,
)
from app.models.base import utcnow
from app.services.party import hours
from tests.fixtures.party import log_row, service_hours, volunteer_entries
from tests.helpers import bearer, counting_queries, in_app, login

HOUR = timedelta(hours=1)


def call(client, method: str, path: str, headers: dict, expect: int, **body):
    response = getattr(client, method)(path, headers=headers, json=body if body else None)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def refused(client, path: str, headers: dict, status: int, code: str, **body) -> dict:
    found = call(client, "post", path, headers, status, **body)
    assert found["code"] == code, found
    return found


def count(app, model, *where) -> int:
    return in_app(app, lambda: db.session.scalar(
        sa.select(sa.func.count()).select_from(model).where(*where)))


def second_community(app, world) -> tuple[int, str]:
    """Another community of 岚城街道 and its staff member (openid staff-2)."""
    def work():
        street_id = db.session.get(Community, world["community"]).street_id
        community = Community(street_id=street_id, name="东关社区")
        db.session.add(community)
        db.session.flush()
        user = User(openid="staff-2", nickname="钱社工")
        user.grants.append(RoleGrant(role=Role.STAFF, scope_kind=ScopeKind.COMMUNITY,
                                     scope_id=community.id))
        db.session.add(user)
        db.session.commit()
        return community.id
    return in_app(app, work), "staff-2"


# --- 双报到 ------------------------------------------------------------------------------

def test_a_member_registers_staff_confirm_and_a_transfer_keeps_the_history(
        app, client, world, people):
    member, staff = people["demo-party-member"], people["demo-staff"]
    body = {"community_id": world["community"], "employer": "县人社局", "skills": "法律咨询"}
    refused(client, "/api/v1/party/registrations", people["demo-resident"], 403,
            "not_party_member", **body)
    refused(client, "/api/v1/party/registrations", member, 404, "community_not_found",
            **{**body, "community_id": 9999})
    created = call(client, "post", "/api/v1/party/registrations", member, 201, **body)
    assert created["status"] == {"code": "pending", "name": "待确认"}
    assert created["community"] == {"id": world["community"], "name": "示范社区"}
    assert (created["employer"], created["skills"]) == ("县人社局", "法律咨询")
    path = f"/api/v1/party/registrations/{created['id']}/transitions"
    # The member cannot confirm their own; someone outside the community does not see it.
    refused(client, path, member, 403, "forbidden", action="confirm")
    refused(client, path, people["demo-secretary"], 404, "registration_not_found",
            action="confirm")
    refused(client, path, staff, 422, "validation_error", action="approve")
    confirmed = call(client, "post", path, staff, 200, action="confirm")
    assert confirmed["status"]["code"] == "confirmed" and confirmed["decided_at"]
    again = refused(client, path, staff, 409, "invalid_transition", action="reject", note="重复")
    assert again["errors"] == {"status": "confirmed"}
    refused(client, "/api/v1/party/registrations", member, 409, "already_registered", **body)
    messages = in_app(app, lambda: db.session.scalars(sa.select(Notification.payload).where(
        Notification.user_id == world["users"]["demo-party-member"],
        Notification.template_key == "party_update")).all())
    assert [m["title"] for m in messages] == ["双报到已确认"]

    # Transfer: a new registration elsewhere waits; confirmed, it ends the old one.
    other, other_staff = second_community(app, world)
    moved = call(client, "post", "/api/v1/party/registrations", member, 201,
                 **{**body, "community_id": other})
    me = call(client, "get", "/api/v1/party/me", member, 200)
    assert [r["status"]["code"] for r in me["registrations"]] == ["pending", "confirmed"]
    # 郑社工 is not staff of 东关社区.
    refused(client, f"/api/v1/party/registrations/{moved['id']}/transitions", staff, 404,
            "registration_not_found", action="confirm")
    call(client, "post", f"/api/v1/party/registrations/{moved['id']}/transitions",
         bearer(login(client, other_staff)), 200, action="confirm")
    me = call(client, "get", "/api/v1/party/me", member, 200)
    assert [(r["community"]["id"], r["status"]["code"]) for r in me["registrations"]] == [
        (other, "confirmed"), (world["community"], "ended")]
    assert me["registrations"][1]["ended_at"] is not None
    profile = in_app(app, lambda: db.session.get(
        PartyMember, world["users"]["demo-party-member"]).registered_community_id)
    assert profile == other


def test_a_rejection_needs_a_reason_and_a_new_request_replaces_a_pending_one(
        app, client, world, people):
    member, staff = people["demo-party-member"], people["demo-staff"]
    body = {"community_id": world["community"], "employer": "县医院"}
    first = call(client, "post", "/api/v1/party/registrations", member, 201, **body)
    second = call(client, "post", "/api/v1/party/registrations", member, 201,
                  **{**body, "employer": "县第一医院"})
    assert count(app, PartyRegistration,
                 PartyRegistration.status == RegistrationStatus.PENDING) == 1
    refused(client, f"/api/v1/party/registrations/{first['id']}/transitions", staff, 409,
            "invalid_transition", action="confirm")
    path = f"/api/v1/party/registrations/{second['id']}/transitions"
    refused(client, path, staff, 422, "validation_error", action="reject")
    rejected = call(client, "post", path, staff, 200, action="reject", note="单位信息不符")
    assert (rejected["status"]["code"], rejected["note"]) == ("rejected", "单位信息不符")
    listed = call(client, "get", f"/api/v1/party/registrations?community_id={world['community']}",
                  staff, 200)
    assert [(r["id"], r["status"]["code"], r["member"]) for r in listed["items"]] == [
        (second["id"], "rejected", "刘党员"), (first["id"], "ended", "刘党员")]
    pending = call(client, "get", "/api/v1/party/registrations?community_id="
                   f"{world['community']}&status=pending", staff, 200)
    assert pending["items"] == []
    assert call(client, "get", f"/api/v1/party/registrations?community_id={world['community']}",
                member, 403)["code"] == "forbidden"


# --- posts and sign-ups -----------------------------------------------------------------

def test_staff_publish_posts_and_the_list_is_keyset_paged(client, world, people, service_post):
    for who in ("demo-party-member", "demo-secretary", "demo-grid-worker"):
        assert service_post(who=who, expect=403)["code"] == "forbidden"
    bad = [{"ends_at": utcnow().isoformat()}, {"category": "party"}, {"headcount": 0},
           {"title": "这" * 41}, {"starts_at": "2026-12-01T10:00:00"}]  # the last: no zone
    for fields in bad:
        assert service_post(expect=422, **fields)["code"] == "validation_error", fields
    ended = service_post(start=utcnow() - 3 * HOUR, lasts=HOUR, expect=422)
    assert ended["errors"]["json"]["ends_at"] == ["不能早于现在"]
    ids = [service_post(title=f"岗位{n}")["id"] for n in range(3)]
    first = call(client, "get", f"/api/v1/service-posts?community_id={world['community']}&limit=2",
                 people["demo-resident"], 200)
    assert [p["id"] for p in first["items"]] == ids[:0:-1] and first["next_cursor"]
    rest = call(client, "get", f"/api/v1/service-posts?community_id={world['community']}"
                f"&limit=2&cursor={first['next_cursor']}", people["demo-resident"], 200)
    assert [p["id"] for p in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    item = rest["items"][0]
    assert item["category"] == {"code": "legal", "name": "法律咨询与援助"}
    assert (item["headcount"], item["signup_count"], item["remaining"], item["signed_up"]) == (
        5, 0, 5, False)
    assert call(client, "get", "/api/v1/service-posts?community_id=9999",
                people["demo-resident"], 404)["code"] == "community_not_found"


def test_only_a_member_confirmed_here_signs_up_once_while_places_last(
        app, client, world, people, service_post, confirmed_member, party_members):
    post = service_post(headcount=2)
    path = f"/api/v1/service-posts/{post['id']}/signups"
    member = people["demo-party-member"]
    refused(client, path, people["demo-resident"], 403, "not_party_member")
    # The world's PartyMember row is no confirmed 双报到 registration.
    refused(client, path, member, 403, "not_registered_here")
    confirmed_member()
    taken = call(client, "post", path, member, 201)
    assert (taken["signup_count"], taken["remaining"], taken["signed_up"]) == (1, 1, True)
    refused(client, path, member, 409, "already_signed_up")
    others = party_members(2)
    call(client, "post", path, others[0], 201)
    full = refused(client, path, others[1], 409, "post_full")
    assert full["errors"] == {"headcount": 2}
    assert count(app, ServiceSignup, ServiceSignup.post_id == post["id"]) == 2
    refused(client, "/api/v1/service-posts/9999/signups", member, 404, "post_not_found")
    listed = call(client, "get", f"/api/v1/service-posts?community_id={world['community']}",
                  member, 200)["items"]
    assert [(p["id"], p["signed_up"], p["remaining"]) for p in listed] == [(post["id"], True, 0)]
    soon = service_post(starts_in=HOUR, lasts=HOUR)
    with time_machine.travel(utcnow() + 3 * HOUR, tick=False):
        refused(client, f"/api/v1/service-posts/{soon['id']}/signups", member, 409,
                "post_closed")


# --- check-in and check-out -------------------------------------------------------------

def test_check_in_and_out_earn_points_once_and_scanning_twice_is_harmless(
        app, client, world, people, service_post, confirmed_member, qr_tokens):
    confirmed_member()
    member, member_id = people["demo-party-member"], world["users"]["demo-party-member"]
    start = utcnow().replace(microsecond=0) + HOUR
    post = service_post(start=start, lasts=3 * HOUR)
    base = f"/api/v1/service-posts/{post['id']}"
    call(client, "post", base + "/signups", member, 201)
    with time_machine.travel(start, tick=False):
        qr = call(client, "get", base + "/qr", people["demo-staff"], 200)
        assert qr["check_in"]["svg"].startswith("<svg") and qr["check_in"]["token"]
        assert qr["check_in"]["token"] != qr["check_out"]["token"]
        refused(client, base + "/check-out", member, 409, "not_checked_in",
                token=qr["check_out"]["token"])
        # A check-in code does not check out, nor a check-out code check in.
        refused(client, base + "/check-in", member, 422, "qr_invalid",
                token=qr["check_out"]["token"])
        log = call(client, "post", base + "/check-in", member, 200, token=qr["check_in"]["token"])
        assert (log["check_out_at"], log["hours"], log["verified"]) == (None, None, False)
        assert log["source"] == {"code": "checkin", "name": "扫码签到"}
        again = call(client, "post", base + "/check-in", member, 200,
                     token=qr["check_in"]["token"])
        assert again["id"] == log["id"] and again["check_in_at"] == log["check_in_at"]
    with time_machine.travel(start + 2 * HOUR + timedelta(minutes=3), tick=False):
        tokens = qr_tokens(post["id"])
        out = call(client, "post", base + "/check-out", member, 200, token=tokens["check_out"])
        assert (out["id"], out["hours"], out["verified"], out["flagged"]) == (
            log["id"], "2.1", True, False)
    with time_machine.travel(start + 2 * HOUR + timedelta(minutes=4), tick=False):
        twice = call(client, "post", base + "/check-out", member, 200, token=tokens["check_out"])
        assert twice["check_out_at"] == out["check_out_at"] and twice["hours"] == "2.1"
        # Checking in again after the check-out changes nothing either.
        assert call(client, "post", base + "/check-in", member, 200,
                    token=qr_tokens(post["id"])["check_in"])["check_out_at"] == out["check_out_at"]
    assert volunteer_entries(app, log["id"]) == [(member_id, 11)]  # 5 a hour x 2.1, half up
    assert count(app, ServiceLog) == 1
    assert service_hours(app, member_id) == Decimal("14.6")  # 12.5 before
    me = call(client, "get", "/api/v1/party/me", member, 200)
    assert (me["times"], me["hours"], me["target_times"], me["target_hours"]) == (
        1, "2.1", 4, "20.0")
    assert (me["times_met"], me["hours_met"]) == (False, False)
    assert [h["id"] for h in me["history"]["items"]] == [log["id"]]
    assert me["history"]["items"][0]["post"] == {"id": post["id"], "name": "周末政策宣讲"}
    assert [p["id"] for p in me["signups"]] == [post["id"]]  # it ends at start + 3h
    refused(client, base + "/check-in", people["demo-resident"], 409, "not_signed_up",
            token=qr_tokens(post["id"])["check_in"])


def test_the_rotating_token_refuses_expired_foreign_and_tampered_codes(
        app, client, world, people, service_post, confirmed_member):
    confirmed_member()
    member = people["demo-party-member"]
    start = utcnow().replace(microsecond=0) + HOUR
    post, other = service_post(start=start), service_post(start=start)
    for p in (post, other):
        call(client, "post", f"/api/v1/service-posts/{p['id']}/signups", member, 201)
    path = f"/api/v1/service-posts/{post['id']}/check-in"
    with time_machine.travel(start, tick=False):
        token = call(client, "get", f"/api/v1/service-posts/{post['id']}/qr",
                     people["demo-staff"], 200)["check_in"]["token"]
        foreign = call(client, "get", f"/api/v1/service-posts/{other['id']}/qr",
                       people["demo-staff"], 200)["check_in"]["token"]
        refused(client, path, member, 422, "qr_wrong_post", token=foreign)
        tampered = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
        refused(client, path, member, 422, "qr_invalid", token=tampered)
        forged = URLSafeTimedSerializer("not-our-secret", salt=hours.PURPOSES["check_in"]).dumps(
            {"post": post["id"], "slot": int(start.timestamp()) // hours.SLOT_SECONDS})
        refused(client, path, member, 422, "qr_invalid", token=forged)
        refused(client, path, member, 422, "qr_invalid", token="linli:hello")
    late = start + timedelta(seconds=app.config["PARTY_QR_SECONDS"] + 1)
    with time_machine.travel(late, tick=False):
        refused(client, path, member, 422, "qr_expired", token=token)
    assert count(app, ServiceLog) == 0
    with time_machine.travel(late, tick=False):  # the code on the screen now works
        fresh = call(client, "get", f"/api/v1/service-posts/{post['id']}/qr",
                     people["demo-staff"], 200)["check_in"]["token"]
        call(client, "post", path, member, 200, token=fresh)
    # Only the post's community's staff see its codes.
    assert call(client, "get", f"/api/v1/service-posts/{post['id']}/qr", member,
                403)["code"] == "forbidden"


def test_check_in_opens_half_an_hour_early_and_never_overlaps_another_log(
        client, world, people, service_post, confirmed_member, qr_tokens):
    confirmed_member()
    member = people["demo-party-member"]
    start = utcnow().replace(microsecond=0) + 2 * HOUR
    first, second = service_post(start=start), service_post(start=start + HOUR)
    for p in (first, second):
        call(client, "post", f"/api/v1/service-posts/{p['id']}/signups", member, 201)
    with time_machine.travel(start - timedelta(minutes=31), tick=False):
        refused(client, f"/api/v1/service-posts/{first['id']}/check-in", member, 409,
                "post_not_open", token=qr_tokens(first["id"])["check_in"])
    with time_machine.travel(start - timedelta(minutes=29), tick=False):
        call(client, "post", f"/api/v1/service-posts/{first['id']}/check-in", member, 200,
             token=qr_tokens(first["id"])["check_in"])
    with time_machine.travel(start + HOUR, tick=False):
        refused(client, f"/api/v1/service-posts/{second['id']}/check-in", member, 422,
                "log_overlaps", token=qr_tokens(second["id"])["check_in"])


# --- manual entries, the job, verification ----------------------------------------------

def test_manual_entries_need_staff_and_are_bounded(app, client, world, people,
                                                   confirmed_member):
    confirmed_member()
    member_id = world["users"]["demo-party-member"]
    staff = people["demo-staff"]
    end = utcnow().replace(microsecond=0) - HOUR

    def entry(start, stop, **more):
        return {"member_id": member_id, "community_id": world["community"],
                "check_in_at": start.isoformat(), "check_out_at": stop.isoformat(), **more}

    refused(client, "/api/v1/party/logs", people["demo-party-member"], 403, "forbidden",
            **entry(end - HOUR, end))
    refused(client, "/api/v1/party/logs", people["demo-secretary"], 403, "forbidden",
            **entry(end - HOUR, end))
    refused(client, "/api/v1/party/logs", staff, 422, "member_not_registered",
            **{**entry(end - HOUR, end), "member_id": world["users"]["demo-resident"]})
    refused(client, "/api/v1/party/logs", staff, 422, "log_too_long",
            **entry(end - 8 * HOUR - timedelta(minutes=1), end))
    refused(client, "/api/v1/party/logs", staff, 422, "log_in_future",
            **entry(end, end + 2 * HOUR))
    refused(client, "/api/v1/party/logs", staff, 422, "validation_error", **entry(end, end - HOUR))
    log = call(client, "post", "/api/v1/party/logs", staff, 201,
               **entry(end - 8 * HOUR, end, note="社区议事会记录"))
    assert (log["hours"], log["verified"], log["source"]["code"]) == ("8.0", True, "manual")
    assert volunteer_entries(app, log["id"]) == [(member_id, 40)]
    for start, stop in [(end - HOUR, end + timedelta(minutes=30)),
                        (end - 9 * HOUR, end - 7 * HOUR), (end - 4 * HOUR, end - 3 * HOUR)]:
        refused(client, "/api/v1/party/logs", staff, 422, "log_overlaps", **entry(start, stop))
    # Touching is not overlapping.
    call(client, "post", "/api/v1/party/logs", staff, 201, **entry(end - 9 * HOUR, end - 8 * HOUR))
    # Replayed with its Idempotency-Key: one log, one ledger entry.
    body = entry(end - 12 * HOUR, end - 10 * HOUR)
    headers = {**staff, "Idempotency-Key": "manual-1"}
    first = call(client, "post", "/api/v1/party/logs", headers, 201, **body)
    replay = call(client, "post", "/api/v1/party/logs", headers, 201, **body)
    assert replay["id"] == first["id"]
    assert volunteer_entries(app, first["id"]) == [(member_id, 10)]
    assert count(app, ServiceLog) == 3


def test_a_missing_check_out_is_closed_flagged_and_earns_points_once_verified(
        app, client, world, people, service_post, confirmed_member, qr_tokens):
    confirmed_member()
    member, member_id = people["demo-party-member"], world["users"]["demo-party-member"]
    staff = people["demo-staff"]
    start = utcnow().replace(microsecond=0) + HOUR
    post = service_post(start=start, lasts=3 * HOUR)
    base = f"/api/v1/service-posts/{post['id']}"
    call(client, "post", base + "/signups", member, 201)
    with time_machine.travel(start + HOUR, tick=False):
        log = call(client, "post", base + "/check-in", member, 200,
                   token=qr_tokens(post["id"])["check_in"])
    with time_machine.travel(start + 3 * HOUR - timedelta(minutes=1), tick=False):
        assert in_app(app, lambda: run_job(get_job("party-checkouts"), "test")) == {
            "closed": 0, "staff_told": 0}
    with time_machine.travel(start + 3 * HOUR + timedelta(minutes=5), tick=False):
        assert in_app(app, lambda: run_job(get_job("party-checkouts"), "test")) == {
            "closed": 1, "staff_told": 1}  # 郑社工, the community's one staff member
        assert in_app(app, lambda: run_job(get_job("party-checkouts"), "test")) == {
            "closed": 0, "staff_told": 0}
        row = log_row(app, log["id"])
        assert row.flagged and row.verified_at is None and row.hours == Decimal("2.0")
        assert row.check_out_at == start + 3 * HOUR
        assert volunteer_entries(app, log["id"]) == []
        # A late scan leaves the closed log as it is.
        late = call(client, "post", base + "/check-out", member, 200,
                    token=qr_tokens(post["id"])["check_out"])
        assert (late["flagged"], late["verified"], late["hours"]) == (True, False, "2.0")
    flagged = call(client, "get", f"/api/v1/party/logs?community_id={world['community']}"
                   "&flagged=true", staff, 200)
    assert [item["id"] for item in flagged["items"]] == [log["id"]]
    assert call(client, "get", f"/api/v1/party/logs?community_id={world['community']}",
                member, 403)["code"] == "forbidden"
    path = f"/api/v1/party/logs/{log['id']}/verify"
    refused(client, path, member, 403, "forbidden")
    refused(client, path, staff, 422, "hours_exceed_log", hours=2.5)
    verified = call(client, "post", path, staff, 200, hours=1.5)
    assert (verified["verified"], verified["hours"]) == (True, "1.5")
    refused(client, path, staff, 409, "already_verified")
    assert volunteer_entries(app, log["id"]) == [(member_id, 8)]  # 7.5, half up
    assert service_hours(app, member_id) == Decimal("14.0")
    me = call(client, "get", "/api/v1/party/me", member, 200)
    assert (me["times"], me["hours"]) == (1, "1.5")


def test_a_check_out_long_after_the_end_is_capped_and_flagged(
        app, client, world, people, service_post, confirmed_member, qr_tokens):
    confirmed_member()
    member = people["demo-party-member"]
    start = utcnow().replace(microsecond=0) + HOUR
    post = service_post(start=start, lasts=2 * HOUR)
    base = f"/api/v1/service-posts/{post['id']}"
    call(client, "post", base + "/signups", member, 201)
    with time_machine.travel(start, tick=False):
        log = call(client, "post", base + "/check-in", member, 200,
                   token=qr_tokens(post["id"])["check_in"])
    with time_machine.travel(start + 3 * HOUR, tick=False):  # an hour after the end
        out = call(client, "post", base + "/check-out", member, 200,
                   token=qr_tokens(post["id"])["check_out"])
    assert (out["hours"], out["flagged"], out["verified"]) == ("2.0", True, False)
    assert volunteer_entries(app, log["id"]) == []


# --- my year ----------------------------------------------------------------------------

def test_my_year_is_for_party_members_and_pages_the_history(app, client, world, people,
                                                            confirmed_member, service_post):
    assert call(client, "get", "/api/v1/party/me", people["demo-resident"],
                403)["code"] == "not_party_member"
    confirmed_member()
    staff, member_id = people["demo-staff"], world["users"]["demo-party-member"]
    end = utcnow().replace(microsecond=0) - HOUR
    ids = [call(client, "post", "/api/v1/party/logs", staff, 201, member_id=member_id,
                community_id=world["community"],
                check_in_at=(end - (n + 1) * 6 * HOUR).isoformat(),
                check_out_at=(end - (n + 1) * 6 * HOUR + 5 * HOUR).isoformat())["id"]
           for n in range(4)]
    post = service_post()
    call(client, "post", f"/api/v1/service-posts/{post['id']}/signups",
         people["demo-party-member"], 201)
    first = call(client, "get", "/api/v1/party/me?limit=3", people["demo-party-member"], 200)
    assert (first["times"], first["hours"], first["times_met"], first["hours_met"]) == (
        4, "20.0", True, True)
    assert [h["id"] for h in first["history"]["items"]] == ids[::-1][:3]
    rest = call(client, "get", f"/api/v1/party/me?limit=3&cursor={first['history']['next_cursor']}",
                people["demo-party-member"], 200)
    assert [h["id"] for h in rest["history"]["items"]] == [ids[0]]
    assert rest["history"]["next_cursor"] is None
    assert [(p["id"], p["signed_up"]) for p in first["signups"]] == [(post["id"], True)]
    assert first["registrations"][0]["status"]["code"] == "confirmed"


def test_my_year_costs_the_same_statements_whatever_the_history(
        app, client, world, people, confirmed_member, service_post):
    """The hot read: the token, then the year's totals with the registrations (the
    community and my name), the posts signed up for and a page of logs (with the post's
    title): no statement per log, registration or post, and no ORM user."""
    confirmed_member()
    staff, member = people["demo-staff"], people["demo-party-member"]
    member_id = world["users"]["demo-party-member"]
    end = utcnow().replace(microsecond=0) - HOUR
    loaded: list = []

    def record(target, _context):
        loaded.append(target.id)
    sa.event.listen(User, "load", record)

    def read() -> tuple[dict, int]:
        loaded.clear()
        with counting_queries(app) as statements:
            body = call(client, "get", "/api/v1/party/me", member, 200)
        assert loaded == []  # built from rows, no ORM user
        return body, len(statements)

    def log(n: int) -> None:
        call(client, "post", "/api/v1/party/logs", staff, 201, member_id=member_id,
             community_id=world["community"],
             check_in_at=(end - (n + 1) * 6 * HOUR).isoformat(),
             check_out_at=(end - (n + 1) * 6 * HOUR + 2 * HOUR).isoformat())

    try:
        log(0)
        post = service_post()
        call(client, "post", f"/api/v1/service-posts/{post['id']}/signups", member, 201)
        one, few = read()
        for n in range(1, 4):
            log(n)
        four, many = read()
    finally:
        sa.event.remove(User, "load", record)
    assert few == many == 4, (few, many)
    assert [len(one["history"]["items"]), len(four["history"]["items"])] == [1, 4]
    assert (four["times"], four["hours"]) == (4, "8.0")
    item = four["history"]["items"][0]
    assert item["source"] == {"code": "manual", "name": "人工录入"}
    assert (item["hours"], item["verified"], item["post"]) == ("2.0", True, None)
    [registration] = four["registrations"]
    assert registration["member"] == "刘党员"
    assert registration["community"] == {"id": world["community"], "name": "示范社区"}
    assert registration["status"] == {"code": "confirmed", "name": "已报到"}
    assert [(p["id"], p["signed_up"], p["remaining"]) for p in four["signups"]] == [
        (post["id"], True, post["headcount"] - 1)]
    assert four["signups"][0]["category"]["code"] == post["category"]["code"]


def test_the_pace_reminder_tells_members_behind_once(app, world, party_members):
    members = party_members(2)
    ahead, behind = members.ids
    # 1 December 2026, 09:00 in Shanghai: eleven twelfths of the year gone.
    now = datetime(2026, 12, 1, 1, 0, tzinfo=timezone.utc)

    def seed():
        for n in range(4):
            start = datetime(2026, 3 + n, 10, 1, 0, tzinfo=timezone.utc)
            db.session.add(ServiceLog(member_id=ahead, community_id=world["community"],
                                      source=LogSource.MANUAL, check_in_at=start,
                                      check_out_at=start + 5 * HOUR, hours=Decimal("5.0"),
                                      verified_at=start + 5 * HOUR))
        # Behind: three times, unverified hours do not count.
        start = datetime(2026, 11, 10, 1, 0, tzinfo=timezone.utc)
        db.session.add(ServiceLog(member_id=behind, community_id=world["community"],
                                  source=LogSource.MANUAL, check_in_at=start,
                                  check_out_at=start + 8 * HOUR, hours=Decimal("8.0"),
                                  flagged=True))
        db.session.commit()
    in_app(app, seed)

    def run():
        result = party_jobs.run_pace(now=now)
        db.session.commit()
        return result
    assert in_app(app, run) == {"checked": 2, "reminded": 1}
    assert in_app(app, run) == {"checked": 2, "reminded": 0}
    told = in_app(app, lambda: db.session.execute(sa.select(
        Notification.user_id, Notification.payload).where(
        Notification.template_key == "party_update")).all())
    assert [user for user, _ in told] == [behind]
    assert told[0][1]["note"] == "今年已服务 0 次、0.0 小时，全年目标 4 次、20.0 小时"


def test_staff_see_the_roster_of_confirmed_members_with_their_progress(
        app, client, world, people, confirmed_member, party_members):
    crowd = party_members(2)
    confirmed_member()
    staff, community = people["demo-staff"], world["community"]
    end = utcnow().replace(microsecond=0) - HOUR
    call(client, "post", "/api/v1/party/logs", staff, 201, member_id=crowd.ids[1],
         community_id=community, check_in_at=(end - 3 * HOUR).isoformat(),
         check_out_at=end.isoformat())
    # A pending request is not on the roster.
    other = party_members(1, prefix="newcomer")
    in_app(app, lambda: (db.session.execute(sa.update(PartyRegistration).where(
        PartyRegistration.user_id == other.ids[0]).values(status=RegistrationStatus.PENDING)),
        db.session.commit()))
    first = call(client, "get", f"/api/v1/party/roster?community_id={community}&limit=2",
                 staff, 200)
    assert [(i["member"]["id"], i["times"], i["hours"], i["hours_met"])
            for i in first["items"]] == [(crowd.ids[0], 0, "0.0", False),
                                         (crowd.ids[1], 1, "3.0", False)]
    rest = call(client, "get", f"/api/v1/party/roster?community_id={community}&limit=2"
                f"&cursor={first['next_cursor']}", staff, 200)
    assert [(i["member"]["name"], i["employer"]) for i in rest["items"]] == [("刘党员", "县人社局")]
    assert rest["next_cursor"] is None
    last_year = call(client, "get", f"/api/v1/party/roster?community_id={community}&year=2025",
                     staff, 200)
    assert {i["times"] for i in last_year["items"]} == {0}
    for who in ("demo-party-member", "demo-secretary"):
        assert call(client, "get", f"/api/v1/party/roster?community_id={community}",
                    people[who], 403)["code"] == "forbidden"
    assert call(client, "get", "/api/v1/party/roster?community_id=9999", staff,
                404)["code"] == "community_not_found"
