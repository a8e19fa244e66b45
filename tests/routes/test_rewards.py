"""爱心积分超市: managing rewards, redeeming, my redemptions, hand-over, cancel, expiry."""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from PIL import Image

from app import timeutil
from app.extensions import db
from app.jobs import get_job
from app.jobs.runner import run_job
from app.models import LedgerEntry, Notification, Redemption, RedemptionStatus, Upload, User
from app.models.base import utcnow
from app.services.notifications import templates
from app.services.points import ledger as points
from tests.fixtures.points import (
    balance,
    count,
    give,
    make_reward,
    other_community_staff,
    stock,
)
from tests.helpers import in_app
from tests.routes.test_errors import assert_envelope

NEW_REWARD = {"name": "节能台灯", "cost": 120, "stock": 10, "per_user_limit": 1,
              "pickup_place": "虹桥小区党群服务站", "description": "LED 护眼台灯"}


def redeem(client, headers, reward_id, quantity=1, **extra):
    return client.post(f"/api/v1/rewards/{reward_id}/redeem", headers={**headers, **extra},
                       json={"quantity": quantity})


@pytest.fixture
def resident(app, auth, world):
    """demo-resident (张阿姨) with exactly 100 points."""
    uid = world["users"]["demo-resident"]
    give(app, uid, 100 - balance(app, uid))
    return uid, auth("demo-resident")


# --- managing the shop ------------------------------------------------------------------

def test_a_reward_picture_is_never_taken_from_an_incident(app, client, world, people, report):
    # The staff member's own photo, attached to their report: reward pictures are public,
    # so re-pointing it would publish an incident photo.
    incident_photo = report(openid="demo-staff")["photos"][0]["id"]
    refused = client.post("/api/v1/rewards", headers=people["demo-staff"], json={
        **NEW_REWARD, "community_id": world["community"], "picture_id": incident_photo})
    assert_envelope(refused, 404, "upload_not_found")
    with app.app_context():
        upload = db.session.get(Upload, incident_photo)
        assert (upload.ref_kind, upload.owner_id) == ("incident", world["users"]["demo-staff"])
    assert client.get(f"/api/v1/uploads/{incident_photo}",
                      headers=people["demo-resident-3"]).status_code == 404


def test_staff_manage_rewards_with_a_picture(app, client, auth, world, stocked_shop):
    staff = auth("demo-staff")
    image = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(image, "PNG")
    upload = client.post("/api/v1/uploads", headers=staff, content_type="multipart/form-data",
                         data={"file": (io.BytesIO(image.getvalue()), "lamp.png")}).get_json()
    created = client.post("/api/v1/rewards", headers=staff, json={
        **NEW_REWARD, "community_id": world["community"], "picture_id": upload["id"],
        "starts_at": "2020-01-01T00:00:00+08:00"})
    assert created.status_code == 201, created.get_json()
    reward = created.get_json()
    assert reward["picture"]["id"] == upload["id"] and reward["active"] is True
    # Anyone who shops there may see the picture.
    assert client.get(f"/api/v1/uploads/{upload['id']}",
                      headers=auth("demo-resident")).status_code == 200
    updated = client.put(f"/api/v1/rewards/{reward['id']}", headers=staff,
                         json={"stock": 3, "cost": 100, "active": False})
    assert updated.status_code == 200
    assert (updated.get_json()["stock"], updated.get_json()["cost"]) == (3, 100)
    shop = client.get("/api/v1/rewards?limit=100", headers=auth("demo-resident")).get_json()
    assert reward["id"] not in [r["id"] for r in shop["items"]]  # off sale
    assert len(shop["items"]) == 5  # the stocked shop
    everything = client.get("/api/v1/rewards?all=true&limit=100", headers=staff).get_json()
    assert reward["id"] in [r["id"] for r in everything["items"]]
    page = client.get("/api/v1/rewards?limit=2", headers=auth("demo-resident")).get_json()
    assert len(page["items"]) == 2 and page["next_cursor"]


def test_reward_management_permissions_and_bad_input(app, client, auth, world):
    body = {**NEW_REWARD, "community_id": world["community"]}
    assert_envelope(client.post("/api/v1/rewards", headers=auth("demo-resident"), json=body),
                    403, "forbidden")
    assert_envelope(client.post("/api/v1/rewards", headers=auth("demo-secretary"), json=body),
                    403, "forbidden")
    auth("other-staff")
    other_community_staff(app)
    other = auth("other-staff")
    assert_envelope(client.post("/api/v1/rewards", headers=other, json=body), 403, "forbidden")
    staff = auth("demo-staff")
    for bad in [{"cost": 0}, {"cost": -5}, {"stock": -1}, {"per_user_limit": 0},
                {"name": ""}, {"cost": "10"}, {"starts_at": "2026-01-01T00:00:00"},
                {"starts_at": "2026-02-01T00:00:00+08:00",
                 "ends_at": "2026-01-01T00:00:00+08:00"}]:
        assert_envelope(client.post("/api/v1/rewards", headers=staff, json={**body, **bad}),
                        422, "validation_error")
    assert_envelope(client.post("/api/v1/rewards", headers=staff,
                                json={**body, "community_id": 999999}), 404,
                    "community_not_found")
    assert_envelope(client.post("/api/v1/rewards", headers=staff,
                                json={**body, "picture_id": 999999}), 404, "upload_not_found")
    reward_id = make_reward(app, world["community"])
    assert_envelope(client.put(f"/api/v1/rewards/{reward_id}", headers=other,
                               json={"stock": 1}), 403, "forbidden")
    assert_envelope(client.put("/api/v1/rewards/999999", headers=staff, json={"stock": 1}),
                    404, "reward_not_found")
    # An end before the start already stored is refused by the service.
    client.put(f"/api/v1/rewards/{reward_id}", headers=staff,
               json={"starts_at": "2030-01-01T00:00:00+08:00"})
    assert_envelope(client.put(f"/api/v1/rewards/{reward_id}", headers=staff,
                               json={"ends_at": "2029-01-01T00:00:00+08:00"}), 422,
                    "invalid_window")
    # Residents see only their community's shop.
    assert_envelope(client.get(f"/api/v1/rewards?community_id={world['community']}",
                               headers=other), 403, "not_community_member")
    assert client.get("/api/v1/rewards", headers=auth("homeless")).get_json()["items"] == []


# --- redeeming --------------------------------------------------------------------------

def test_redeem_takes_points_and_stock_and_gives_a_pickup_code(app, client, world, resident):
    uid, headers = resident
    reward_id = make_reward(app, world["community"], cost=30, stock=5, name="环保袋")
    response = redeem(client, headers, reward_id, 2)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert re.fullmatch(r"\d{6}", body["pickup_code"])
    assert body["qr_payload"] == f"linli:redemption:{body['pickup_code']}"
    assert (body["quantity"], body["points"]) == (2, 60)
    assert body["status"] == {"code": "pending", "name": "待领取"}
    assert body["reward"]["name"] == "环保袋"
    assert balance(app, uid) == 40 and stock(app, reward_id) == 3
    ledger = client.get("/api/v1/points", headers=headers).get_json()
    assert ledger["items"][0]["description"] == "积分超市兑换：环保袋 ×2"
    assert ledger["items"][0]["ref"] == f"redemption:{body['id']}"

    def note():
        row = db.session.scalar(sa.select(Notification).where(
            Notification.template_key == "redemption_ready"))
        return row.user_id, row.payload["code"]
    assert in_app(app, note) == (uid, body["pickup_code"])
    mine = client.get("/api/v1/redemptions", headers=headers).get_json()
    assert [r["id"] for r in mine["items"]] == [body["id"]]
    assert client.get("/api/v1/redemptions?status=fulfilled",
                      headers=headers).get_json()["items"] == []
    assert_envelope(client.get("/api/v1/redemptions?status=lost", headers=headers), 422,
                    "validation_error")


def test_repeated_redeem_with_the_same_key_takes_points_once(app, client, world, resident):
    uid, headers = resident
    reward_id = make_reward(app, world["community"], cost=10)
    first = redeem(client, headers, reward_id, **{"Idempotency-Key": "r-1"})
    again = redeem(client, headers, reward_id, **{"Idempotency-Key": "r-1"})
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert balance(app, uid) == 90 and count(app, Redemption) == 1


@pytest.mark.parametrize("quantity", [0, -1, 100, "2", None, 1.5])
def test_bad_quantities_are_refused(app, client, world, resident, quantity):
    uid, headers = resident
    reward_id = make_reward(app, world["community"])
    assert_envelope(redeem(client, headers, reward_id, quantity), 422, "validation_error")
    assert balance(app, uid) == 100 and count(app, Redemption) == 0


def test_redeem_refusals_answer_the_envelope_and_change_nothing(app, client, auth, world,
                                                               resident):
    uid, headers = resident
    now = utcnow()
    community = world["community"]
    cases = [
        (999999, {}, 404, "reward_not_found"),
        (make_reward(app, community, active=False), {}, 409, "reward_inactive"),
        (make_reward(app, community, starts_at=now + timedelta(days=1)), {}, 409,
         "reward_not_started"),
        (make_reward(app, community, ends_at=now - timedelta(seconds=1)), {}, 409,
         "reward_ended"),
        (make_reward(app, community, stock=1), {"quantity": 2}, 409, "out_of_stock"),
        (make_reward(app, community, cost=101), {}, 409, "insufficient_points"),
        (make_reward(app, community, cost=30), {"quantity": 4}, 409, "insufficient_points"),
        (make_reward(app, community, per_user_limit=2), {"quantity": 3}, 409,
         "redemption_limit_reached"),
    ]
    for reward_id, extra, status, code in cases:
        assert_envelope(redeem(client, headers, reward_id, extra.get("quantity", 1)),
                        status, code)
    assert balance(app, uid) == 100 and count(app, Redemption) == 0
    assert count(app, LedgerEntry, LedgerEntry.rule == "redemption") == 0
    # Someone from outside the community may not shop here.
    auth("other-staff")
    other_community_staff(app)
    assert_envelope(redeem(client, auth("other-staff"), cases[1][0]), 403,
                    "not_community_member")
    assert_envelope(client.post(f"/api/v1/rewards/{cases[1][0]}/redeem", headers=headers,
                                data="{", content_type="application/json"), 400,
                    "malformed_json")


def test_per_user_limit_counts_earlier_redemptions_but_not_cancelled_ones(app, client, world,
                                                                        resident):
    uid, headers = resident
    reward_id = make_reward(app, world["community"], per_user_limit=2)
    first = redeem(client, headers, reward_id).get_json()
    assert redeem(client, headers, reward_id).status_code == 201
    body = assert_envelope(redeem(client, headers, reward_id), 409, "redemption_limit_reached")
    assert body["errors"] == {"limit": 2, "redeemed": 2}
    assert client.post(f"/api/v1/redemptions/{first['id']}/cancel",
                       headers=headers).status_code == 200
    assert redeem(client, headers, reward_id).status_code == 201
    assert balance(app, uid) == 80


# --- hand-over, cancel, expiry ----------------------------------------------------------

def test_staff_fulfil_once(app, client, auth, world, resident):
    uid, headers = resident
    reward_id = make_reward(app, world["community"])
    code = redeem(client, headers, reward_id).get_json()["pickup_code"]
    assert_envelope(client.post(f"/api/v1/redemptions/{code}/fulfil", headers=headers), 403,
                    "forbidden")
    auth("other-staff")
    other_community_staff(app)
    assert_envelope(client.post(f"/api/v1/redemptions/{code}/fulfil",
                                headers=auth("other-staff")), 403, "forbidden")
    staff = auth("demo-staff")
    done = client.post(f"/api/v1/redemptions/{code}/fulfil", headers=staff)
    assert done.status_code == 200 and done.get_json()["status"]["code"] == "fulfilled"
    assert done.get_json()["fulfilled_at"]
    assert_envelope(client.post(f"/api/v1/redemptions/{code}/fulfil", headers=staff), 409,
                    "redemption_already_fulfilled")
    unused = "000000" if code != "000000" else "000001"
    assert_envelope(client.post(f"/api/v1/redemptions/{unused}/fulfil", headers=staff), 404,
                    "redemption_not_found")
    assert_envelope(client.post("/api/v1/redemptions/12ab/fulfil", headers=staff), 422,
                    "invalid_pickup_code")
    rid = done.get_json()["id"]
    assert_envelope(client.post(f"/api/v1/redemptions/{rid}/cancel", headers=headers), 409,
                    "redemption_not_cancellable")
    assert balance(app, uid) == 90 and stock(app, reward_id) == 99


def test_owner_cancels_before_pickup_and_gets_everything_back(app, client, auth, world,
                                                             resident):
    uid, headers = resident
    reward_id = make_reward(app, world["community"], cost=25, stock=4)
    body = redeem(client, headers, reward_id, 2).get_json()
    assert balance(app, uid) == 50 and stock(app, reward_id) == 2
    assert_envelope(client.post(f"/api/v1/redemptions/{body['id']}/cancel",
                                headers=auth("demo-resident-2")), 404, "redemption_not_found")
    cancelled = client.post(f"/api/v1/redemptions/{body['id']}/cancel", headers=headers)
    assert cancelled.status_code == 200
    assert cancelled.get_json()["status"]["code"] == "cancelled"
    assert balance(app, uid) == 100 and stock(app, reward_id) == 4
    assert_envelope(client.post(f"/api/v1/redemptions/{body['id']}/cancel", headers=headers),
                    409, "redemption_not_cancellable")
    assert balance(app, uid) == 100
    ledger = client.get("/api/v1/points", headers=headers).get_json()["items"]
    assert ledger[0]["description"] == "积分超市兑换退回：测试奖品 ×2（已取消）"
    assert_envelope(client.post(f"/api/v1/redemptions/{body['pickup_code']}/fulfil",
                                headers=auth("demo-staff")), 409, "redemption_closed")
    assert in_app(app, points.verify) == []


def test_uncollected_redemptions_expire_with_a_refund(app, client, auth, world, resident):
    uid, headers = resident
    reward_id = make_reward(app, world["community"], cost=10, stock=10)
    late = redeem(client, headers, reward_id, 3).get_json()
    collected = redeem(client, headers, reward_id).get_json()
    client.post(f"/api/v1/redemptions/{collected['pickup_code']}/fulfil",
                headers=auth("demo-staff"))
    assert balance(app, uid) == 60 and stock(app, reward_id) == 6
    expires_at = datetime.fromisoformat(late["expires_at"])  # the end of a local day

    def job(dry_run=False):
        return in_app(app, lambda: run_job(get_job("redemption-expiry"), "test", dry_run))

    with time_machine.travel(expires_at - timedelta(minutes=1)):
        assert job()["expired"] == 0  # not yet
    with time_machine.travel(expires_at + timedelta(minutes=1)):
        assert job(dry_run=True)["expired"] == 1
        assert balance(app, uid) == 60  # a dry run changes nothing
        staff = auth("demo-staff")
        assert_envelope(client.post(f"/api/v1/redemptions/{late['pickup_code']}/fulfil",
                                    headers=staff), 409, "redemption_expired")
        assert job() == {"expired": 1, "points_refunded": 30, "more": False}
        assert job()["expired"] == 0  # once
    assert balance(app, uid) == 90 and stock(app, reward_id) == 9
    statuses = {r["id"]: r["status"]["code"] for r in
                client.get("/api/v1/redemptions", headers=headers).get_json()["items"]}
    assert statuses == {late["id"]: "expired", collected["id"]: "fulfilled"}

    def expired_note():
        row = db.session.scalar(sa.select(Notification).where(
            Notification.template_key == "redemption_expired"))
        return row.user_id, row.payload["points"]
    assert in_app(app, expired_note) == (uid, 30)
    assert_envelope(client.post(f"/api/v1/redemptions/{late['id']}/cancel", headers=headers),
                    409, "redemption_not_cancellable")
    assert in_app(app, points.verify) == []
    assert in_app(app, lambda: db.session.get(Redemption, late["id"]).status) \
        is RedemptionStatus.EXPIRED


# --- pickup deadline and look-up before hand-over ---------------------------------------

@pytest.mark.parametrize("redeemed_at, last_day", [
    ("2026-12-01T03:47:00+08:00", "2026-12-08"),  # early morning: the 7th day's end
    ("2026-12-01T23:59:30+08:00", "2026-12-08"),
    ("2026-12-31T00:00:00+08:00", "2027-01-07"),
])
def test_a_pickup_deadline_falls_at_the_end_of_a_local_day(app, client, world, resident,
                                                          redeemed_at, last_day):
    reward_id = make_reward(app, world["community"], cost=10)
    with time_machine.travel(datetime.fromisoformat(redeemed_at), tick=False):
        response = redeem(client, auth_headers(client, "demo-resident"), reward_id)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert app.config["REDEMPTION_PICKUP_DAYS"] == 7
    expires_at = datetime.fromisoformat(body["expires_at"])
    day_after = (datetime.fromisoformat(last_day) + timedelta(days=1)).date()
    assert timeutil.local(expires_at).isoformat() == f"{day_after}T00:00:00+08:00"

    def message():
        row = db.session.scalar(sa.select(Notification).where(
            Notification.template_key == "redemption_ready"))
        return row.payload["deadline"], row.payload
    deadline, payload = in_app(app, message)
    assert timeutil.local(datetime.fromisoformat(deadline)).strftime("%Y-%m-%d %H:%M") == \
        f"{last_day} 23:59"
    text = templates.inbox_text(templates.get("redemption_ready"), payload)
    y, m, d = last_day.split("-")
    assert f"请于 {y}年{m}月{d}日 23:59 前到社区服务站领取" in text
    # The code still works in the last minute of that day, not after it.
    with time_machine.travel(expires_at - timedelta(seconds=30), tick=False):
        staff = auth_headers(client, "demo-staff")  # a token of that time
        looked = client.get(f"/api/v1/redemptions/{body['pickup_code']}", headers=staff)
        assert looked.get_json()["collectable"] is True
    with time_machine.travel(expires_at, tick=False):
        assert_envelope(client.post(f"/api/v1/redemptions/{body['pickup_code']}/fulfil",
                                    headers=staff), 409, "redemption_expired")


def auth_headers(client, openid):
    from tests.helpers import bearer, login

    return bearer(login(client, openid))


def test_staff_look_a_redemption_up_by_code_or_qr_payload(app, client, auth, world, resident):
    uid, headers = resident
    in_app(app, lambda: (db.session.execute(sa.update(User).where(User.id == uid)
                                            .values(phone="13812345678")), db.session.commit()))
    reward_id = make_reward(app, world["community"], name="环保袋")
    body = redeem(client, headers, reward_id, 2).get_json()
    staff = auth("demo-staff")
    by_code = client.get(f"/api/v1/redemptions/{body['pickup_code']}", headers=staff)
    assert by_code.status_code == 200, by_code.get_json()
    found = by_code.get_json()
    assert (found["id"], found["quantity"], found["reward"]["name"]) == (body["id"], 2, "环保袋")
    assert found["status"]["code"] == "pending" and found["collectable"] is True
    assert found["owner"] == {"id": uid, "nickname": "张阿姨", "phone": "138****5678"}
    assert "13812345678" not in by_code.get_data(as_text=True)
    by_qr = client.get(f"/api/v1/redemptions/{body['qr_payload']}", headers=staff).get_json()
    assert by_qr == found
    # Looking changes nothing: handing over is still to come, once.
    assert in_app(app, lambda: db.session.get(Redemption, body["id"]).status) \
        is RedemptionStatus.PENDING
    done = client.post(f"/api/v1/redemptions/{body['qr_payload']}/fulfil", headers=staff)
    assert done.status_code == 200
    after = client.get(f"/api/v1/redemptions/{body['pickup_code']}", headers=staff).get_json()
    assert after["status"]["code"] == "fulfilled" and after["collectable"] is False


def test_redemption_look_up_refusals(app, client, auth, world, resident):
    uid, headers = resident
    code = redeem(client, headers, make_reward(app, world["community"])).get_json()["pickup_code"]
    # The owner and other residents are not staff; staff of another community are not
    # this reward's.
    assert_envelope(client.get(f"/api/v1/redemptions/{code}", headers=headers), 403, "forbidden")
    auth("other-staff")
    other_community_staff(app)
    assert_envelope(client.get(f"/api/v1/redemptions/{code}", headers=auth("other-staff")),
                    403, "forbidden")
    staff = auth("demo-staff")
    unused = "000000" if code != "000000" else "000001"
    assert_envelope(client.get(f"/api/v1/redemptions/{unused}", headers=staff), 404,
                    "redemption_not_found")
    for bad in ("12ab", "1234567", f"linli:booking:{code}", "linli:redemption:"):
        assert_envelope(client.get(f"/api/v1/redemptions/{bad}", headers=staff), 422,
                        "invalid_pickup_code")
