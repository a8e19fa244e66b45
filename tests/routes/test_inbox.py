"""The in-app inbox, the unread count in /me, and recording subscribe-message credits."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import SubscriptionCredit, User
from app.services.notifications import templates
from app.services.notifications.outbox import notify

DIGEST = {"open": 2, "overdue": 0, "summary": "楼道灯坏了", "at": "2026-11-22T00:00:00+00:00"}


def user_id(openid: str) -> int:
    return db.session.scalar(sa.select(User.id).where(User.openid == openid))


def test_inbox_lists_newest_first_and_read_clears_unread(client, auth, ctx):
    headers = auth("reader")
    for i in range(3):
        notify(user_id("reader"), "work_digest", {**DIGEST, "open": i + 1}, dedupe_key=f"d{i}")
    db.session.commit()
    assert client.get("/api/v1/me", headers=headers).get_json()["unread_count"] == 3
    page = client.get("/api/v1/inbox?limit=2", headers=headers).get_json()
    assert [item["text"][:5] for item in page["items"]] == ["您有 3 ", "您有 2 "]
    assert page["items"][0]["title"] == "今日待办提醒"
    assert page["items"][0]["page"] == "pages/work/index"
    rest = client.get(f"/api/v1/inbox?limit=2&cursor={page['next_cursor']}",
                      headers=headers).get_json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    first_id = page["items"][0]["id"]
    read = client.post(f"/api/v1/inbox/{first_id}/read", headers=headers)
    assert read.status_code == 200 and read.get_json()["read_at"]
    assert client.get("/api/v1/me", headers=headers).get_json()["unread_count"] == 2
    unread = client.get("/api/v1/inbox?unread=true", headers=headers).get_json()
    assert first_id not in [item["id"] for item in unread["items"]]


def test_someone_elses_notification_is_404(client, auth, ctx):
    auth("owner")
    notify(user_id("owner"), "work_digest", DIGEST, dedupe_key="private")
    db.session.commit()
    notification_id = db.session.scalar(sa.text("SELECT id FROM notifications"))
    response = client.post(f"/api/v1/inbox/{notification_id}/read", headers=auth("snoop"))
    assert response.status_code == 404
    assert response.get_json()["code"] == "notification_not_found"
    assert client.get("/api/v1/inbox", headers=auth("snoop")).get_json()["items"] == []


def test_subscriptions_add_one_credit_per_acceptance(client, auth, ctx):
    headers = auth("subscriber")
    body = {"template_keys": ["work_digest", "incident_update"],
            "rejected_keys": ["notice_published"]}
    first = client.post("/api/v1/subscriptions", headers=headers, json=body)
    assert first.status_code == 200
    client.post("/api/v1/subscriptions", headers=headers, json={"template_keys": ["work_digest"]})
    credits = {c["template_key"]: c for c in
               client.post("/api/v1/subscriptions", headers=headers,
                           json={"template_keys": []}).get_json()["items"]}
    assert credits["work_digest"]["remaining"] == 2
    assert credits["incident_update"]["remaining"] == 1
    assert credits["notice_published"] == {"template_key": "notice_published", "remaining": 0,
                                           "accepted_total": 0, "rejected_total": 1}


def test_repeated_subscription_post_with_the_same_key_counts_once(client, auth, ctx):
    headers = {**auth("subscriber"), "Idempotency-Key": "sub-1"}
    for _ in range(3):
        assert client.post("/api/v1/subscriptions", headers=headers,
                           json={"template_keys": ["work_digest"]}).status_code == 200
    assert db.session.scalar(sa.select(SubscriptionCredit.remaining)) == 1


def test_unknown_template_is_refused_and_changes_nothing(client, auth, ctx):
    response = client.post("/api/v1/subscriptions", headers=auth("subscriber"),
                           json={"template_keys": ["work_digest", "made_up"]})
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"template_keys": ["made_up"]}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SubscriptionCredit)) == 0


def test_read_all_marks_only_my_unread_and_says_how_many(client, auth, ctx):
    mine, theirs = auth("reader"), auth("other")
    for i in range(3):
        notify(user_id("reader"), "work_digest", DIGEST, dedupe_key=f"mine-{i}")
    notify(user_id("other"), "work_digest", DIGEST, dedupe_key="theirs")
    db.session.commit()
    first_id = client.get("/api/v1/inbox", headers=mine).get_json()["items"][0]["id"]
    read_at = client.post(f"/api/v1/inbox/{first_id}/read", headers=mine).get_json()["read_at"]
    response = client.post("/api/v1/inbox/read-all", headers=mine)
    assert response.status_code == 200 and response.get_json() == {"count": 2}
    assert client.get("/api/v1/me", headers=mine).get_json()["unread_count"] == 0
    assert client.get("/api/v1/inbox?unread=true", headers=mine).get_json()["items"] == []
    # The one read before keeps its time; someone else's stay unread.
    items = client.get("/api/v1/inbox", headers=mine).get_json()["items"]
    assert next(i for i in items if i["id"] == first_id)["read_at"] == read_at
    assert client.get("/api/v1/me", headers=theirs).get_json()["unread_count"] == 1
    assert client.post("/api/v1/inbox/read-all", headers=mine).get_json() == {"count": 0}
    assert client.post("/api/v1/inbox/read-all").status_code == 401


def test_subscribe_templates_give_the_ids_to_request(app, client, auth, ctx, monkeypatch):
    headers = auth("subscriber")
    body = client.get("/api/v1/subscriptions/templates", headers=headers).get_json()
    assert body["next_cursor"] is None
    # Development and tests: every template, with the sandbox's ids.
    by_key = {i["template_key"]: i for i in body["items"]}
    assert by_key["points_earned"] == {"template_key": "points_earned", "title": "积分到账",
                                       "template_id": "sandbox-points_earned"}
    assert set(by_key) == set(templates.TEMPLATES)
    # Production: the configured ids only; a key without one is not offered.
    monkeypatch.setitem(app.config, "WECHAT_SUBSCRIBE_TEMPLATES",
                        {"redemption_ready": "tmpl-AbC123", "work_digest": ""})
    body = client.get("/api/v1/subscriptions/templates", headers=headers).get_json()
    assert body == {"items": [{"template_key": "redemption_ready", "template_id": "tmpl-AbC123",
                               "title": "兑换成功，请按时领取"}], "next_cursor": None}
    assert client.get("/api/v1/subscriptions/templates").status_code == 401


def test_the_credits_list_is_a_page_like_every_list(client, auth, ctx):
    body = client.post("/api/v1/subscriptions", headers=auth("subscriber"),
                       json={"template_keys": ["work_digest"]}).get_json()
    assert body["next_cursor"] is None and [c["template_key"] for c in body["items"]] == [
        "work_digest"]
