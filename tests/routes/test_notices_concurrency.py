"""Simultaneous notice actions with real threads (the notice's row lock and the partial
unique indexes on PostgreSQL, the write lock on SQLite): ten publishes at once publish once
and tell every resident once; ten drafts asked for at once give one draft."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import Notice, Notification
from tests.helpers import in_app, run_together


def test_ten_simultaneous_publishes_publish_once(app, world, people, visit_rules):
    hq = world["compounds"]["虹桥小区"]
    secretary = people["demo-secretary"]
    draft = app.test_client().post("/api/v1/notices/drafts", json={"compound_id": hq},
                                   headers=secretary).get_json()

    def publish(_):
        response = app.test_client().post(f"/api/v1/notices/{draft['id']}/publish",
                                          headers=secretary)
        return response.status_code, response.get_json().get("code")

    outcomes = run_together(10, publish)
    assert sorted(status for status, _ in outcomes) == [200] + [409] * 9, outcomes
    assert {code for status, code in outcomes if status == 409} == {"invalid_transition"}
    told = in_app(app, lambda: db.session.scalar(sa.select(sa.func.count()).select_from(
        Notification).where(Notification.template_key == "notice_published")))
    assert told == 3  # 张阿姨, 李师傅, 刘党员: once each


def test_ten_simultaneous_drafts_give_one(app, world, people, visit_rules):
    hq = world["compounds"]["虹桥小区"]

    def draft(_):
        response = app.test_client().post("/api/v1/notices/drafts", json={"compound_id": hq},
                                          headers=people["demo-secretary"])
        return response.status_code, response.get_json().get("id")

    outcomes = run_together(10, draft)
    assert {status for status, _ in outcomes} <= {200, 201}, outcomes
    assert [status for status, _ in outcomes].count(201) == 1
    assert len({notice_id for _, notice_id in outcomes}) == 1
    assert in_app(app, lambda: db.session.scalar(
        sa.select(sa.func.count()).select_from(Notice))) == 1
