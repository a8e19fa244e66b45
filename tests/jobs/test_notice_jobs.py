"""The notice jobs with frozen time: Monday 06:00 drafts last week's notice for every
compound with a secretary (set-based, the secretaries told once), again on the same Monday
drafts nothing; Thursday reminds the secretaries whose notice is not published, once."""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.jobs import get_job
from app.jobs.runner import run_job
from app.models import Compound, Notice, NoticeStatus
from tests.fixtures.wishes import notified
from tests.helpers import counting_queries, in_app

MONDAY = datetime(2026, 12, 6, 22, 0, tzinfo=timezone.utc)  # Mon 7 Dec 06:00 in Shanghai
THURSDAY = datetime(2026, 12, 10, 1, 0, tzinfo=timezone.utc)  # Thu 10 Dec 09:00


def run(app, job_id: str, at) -> dict:
    with time_machine.travel(at, tick=False):
        return in_app(app, lambda: run_job(get_job(job_id), "test"))


def notices(app) -> list[tuple[int, int, int, str]]:
    return in_app(app, lambda: [tuple(r) for r in db.session.execute(
        sa.select(Notice.compound_id, Notice.iso_year, Notice.iso_week, Notice.status)
        .order_by(Notice.compound_id))])


def test_the_jobs_are_declared_on_monday_and_thursday():
    drafts, reminders = get_job("notice-drafts"), get_job("notice-reminders")
    assert drafts.trigger == {"trigger": "cron", "day_of_week": "mon", "hour": 6, "minute": 0,
                              "timezone": "Asia/Shanghai"}
    assert reminders.trigger["day_of_week"] == "thu"


def test_monday_drafts_last_week_for_every_compound_with_a_secretary(app, world, visit_rules):
    def lonely():
        db.session.add(Compound(community_id=world["community"], name="无书记小区"))
        db.session.commit()
    in_app(app, lambda: lonely())
    with counting_queries(app) as statements:
        result = run(app, "notice-drafts", MONDAY)
    assert result["drafted"] == 2 and result["week"] == "2026-W49"
    assert len(statements) < 40  # set-based: no statements per compound
    hq, ss = world["compounds"]["虹桥小区"], world["compounds"]["盛世华城"]
    assert notices(app) == [(hq, 2026, 49, NoticeStatus.DRAFT), (ss, 2026, 49, NoticeStatus.DRAFT)]
    [told] = notified(app, world["users"]["demo-secretary"], "notice_task")
    assert told["compound"] == "虹桥小区" and "草稿" in told["note"]
    assert run(app, "notice-drafts", MONDAY)["drafted"] == 0
    assert len(notified(app, world["users"]["demo-secretary"], "notice_task")) == 1


def test_thursday_reminds_who_has_not_published(app, client, world, auth, visit_rules):
    run(app, "notice-drafts", MONDAY)
    hq_draft = in_app(app, lambda: db.session.scalar(sa.select(Notice.id).where(
        Notice.compound_id == world["compounds"]["虹桥小区"])))
    with time_machine.travel(THURSDAY, tick=False):
        response = client.post(f"/api/v1/notices/{hq_draft}/publish",
                               headers=auth("demo-secretary"))
        assert response.status_code == 200, response.get_json()
    result = run(app, "notice-reminders", THURSDAY)
    assert result == {"week": "2026-W49", "unpublished": 1, "queued": 1}
    reminders = [m for m in notified(app, world["users"]["demo-secretary-2"], "notice_task")
                 if "尚未发布" in m["note"]]
    assert len(reminders) == 1 and reminders[0]["compound"] == "盛世华城"
    assert [m for m in notified(app, world["users"]["demo-secretary"], "notice_task")
            if "尚未" in m["note"]] == []
    assert run(app, "notice-reminders", THURSDAY)["queued"] == 0
