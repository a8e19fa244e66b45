"""The wish timers with frozen time: a claim's reminder on day 5 and release on day 7, the
30-day expiry of unclaimed wishes, fulfilled wishes left unconfirmed sent to the
secretary's queue, and no timer ever awarding points."""
from __future__ import annotations

from datetime import timedelta

import time_machine

from app.jobs import JOBS, get_job
from app.jobs.digest import WorkItem
from app.jobs.runner import run_job
from app.jobs.wishes import open_work
from app.models.base import utcnow
from app.services.wishes import expiry
from tests.fixtures.visits import household
from tests.fixtures.wishes import ledger_entries, notified, wish_row
from tests.helpers import in_app
from tests.routes.test_wishes import events

DAY, MINUTE = timedelta(days=1), timedelta(minutes=1)


def run(app, job_id: str, at, dry_run: bool = False) -> dict:
    with time_machine.travel(at, tick=False):
        return in_app(app, lambda: run_job(get_job(job_id), "test", dry_run=dry_run))


def test_the_wish_jobs_are_declared():
    ids = {job.id for job in JOBS}
    assert {"wish-claims", "wish-expiry", "wish-unconfirmed"} <= ids


def test_a_claim_is_reminded_on_day_5_and_released_on_day_7(app, client, world, claimed_wish,
                                                             wish_act, auth):
    users = world["users"]
    start = utcnow()
    with time_machine.travel(start, tick=False):
        wish_id = claimed_wish()
    expires = wish_row(app, wish_id).claim_expires_at
    assert expires == start + 7 * DAY
    assert run(app, "wish-claims", start + 5 * DAY - MINUTE) == {"reminded": 0, "released": 0}
    assert run(app, "wish-claims", start + 5 * DAY + MINUTE) == {"reminded": 1, "released": 0}
    [reminder] = notified(app, users["demo-party-member"], "wish_claim_reminder")
    assert reminder["wish_id"] == wish_id and reminder["deadline"] == expires.isoformat()
    assert run(app, "wish-claims", start + 6 * DAY) == {"reminded": 0, "released": 0}
    assert len(notified(app, users["demo-party-member"], "wish_claim_reminder")) == 1
    assert wish_row(app, wish_id).status.value == "claimed"  # still theirs until day 7

    # A dry run shows what it would do and changes nothing.
    late = start + 7 * DAY + MINUTE
    assert run(app, "wish-claims", late, dry_run=True) == {"reminded": 0, "released": 1}
    assert wish_row(app, wish_id).status.value == "claimed"

    assert run(app, "wish-claims", late) == {"reminded": 0, "released": 1}
    row = wish_row(app, wish_id)
    assert row.status.value == "published" and row.claimer_id is None
    assert row.claim_expires_at is None and row.due_at == late + 30 * DAY
    assert events(app, wish_id)[-1] == ("claim_expired", None)
    assert notified(app, users["demo-resident"], "wish_update")[-1]["note"] == \
        "认领已释放，心愿重新等待认领"
    [told] = notified(app, users["demo-party-member"], "wish_claim_update")
    assert told["status"] == "已释放" and "超过期限" in told["note"]
    assert run(app, "wish-claims", late + DAY) == {"reminded": 0, "released": 0}
    assert ledger_entries(app, wish_id) == []

    with time_machine.travel(late + MINUTE, tick=False):  # login tokens last 7 days
        former = auth("demo-party-member")
        seen = client.get(f"/api/v1/wishes/{wish_id}", headers=former).get_json()
        assert seen["contact"] is None and seen["public_view"] is True
        again = wish_act(auth("demo-resident-2"), wish_id, "claim")
        assert again["status"]["code"] == "claimed"
    # The released wish got a fresh 30 days on the wall (from the release, not the approval).
    assert run(app, "wish-expiry", start + 31 * DAY) == {"expired": 0}


def test_a_wish_nobody_claims_expires_after_30_days(app, world, published_wish, claimed_wish):
    start = utcnow()
    with time_machine.travel(start, tick=False):
        lonely = published_wish()
        claimed = claimed_wish(openid="demo-resident-2")
    assert run(app, "wish-expiry", start + 30 * DAY - MINUTE) == {"expired": 0}
    assert run(app, "wish-expiry", start + 30 * DAY + MINUTE) == {"expired": 1}
    row = wish_row(app, lonely)
    assert row.status.value == "expired" and row.closed_at == start + 30 * DAY + MINUTE
    assert events(app, lonely)[-1] == ("expire", None)
    update = notified(app, world["users"]["demo-resident"], "wish_update")[-1]
    assert update["status"] == "已过期"
    assert wish_row(app, claimed).status.value == "claimed"  # a claimed wish never expires
    assert run(app, "wish-expiry", start + 31 * DAY) == {"expired": 0}


def test_unconfirmed_after_3_days_goes_to_the_secretary_and_awards_nothing(
        app, client, world, people, claimed_wish, wish_act, photo, auth):
    users = world["users"]
    start = utcnow()
    with time_machine.travel(start, tick=False):
        wish_id = claimed_wish()
        wish_act("demo-party-member", wish_id, "fulfil",
                 photo_ids=[photo(people["demo-party-member"])])
    # Before the deadline the secretary may not confirm a resident's wish for them.
    assert wish_act("demo-secretary", wish_id, "confirm", expect=403,
                    note="电话确认")["code"] == "forbidden"
    assert run(app, "wish-unconfirmed", start + 3 * DAY - MINUTE) == {"flagged": 0}
    assert run(app, "wish-unconfirmed", start + 3 * DAY + MINUTE) == {"flagged": 1}
    row = wish_row(app, wish_id)
    assert row.status.value == "fulfilled" and row.unconfirmed_at == start + 3 * DAY + MINUTE
    assert row.completed_at is None
    assert ledger_entries(app, wish_id) == []  # points are never awarded by a timer
    [attention] = [n for n in notified(app, users["demo-secretary"], "wish_attention")
                   if n["event"] == "超时未确认"]
    assert attention["wish_id"] == wish_id
    assert run(app, "wish-unconfirmed", start + 4 * DAY) == {"flagged": 0}
    assert events(app, wish_id)[-1] == ("unconfirmed", None)

    with time_machine.travel(start + 4 * DAY, tick=False):
        secretary = auth("demo-secretary")
        queue = client.get("/api/v1/wishes?scope=queue", headers=secretary).get_json()
        assert [(i["id"], i["unconfirmed"]) for i in queue["items"]] == [(wish_id, True)]
        unexplained = wish_act(secretary, wish_id, "confirm", expect=422)
        assert unexplained["errors"]["json"]["note"] == ["代为确认时请说明核实情况"]
        done = wish_act(secretary, wish_id, "confirm", note="电话联系张阿姨，确认已收到")
        assert done["status"]["code"] == "completed"
    assert ledger_entries(app, wish_id) == [(users["demo-party-member"], 20)]


def test_the_morning_digest_lists_household_wishes_to_confirm(app, world, people, wish_post,
                                                              wish_act, photo):
    users = world["users"]
    wish_id = wish_post("demo-grid-worker", consent=True, household_id=in_app(
        app, lambda: household(world, "虹桥小区", "2号楼", "1", "101")))["id"]
    wish_act("demo-secretary", wish_id, "approve", check_method="visit")
    assert in_app(app, lambda: open_work([users["demo-grid-worker"]])) == {}
    wish_act("demo-resident", wish_id, "claim")
    wish_act("demo-resident", wish_id, "fulfil", photo_ids=[photo(people["demo-resident"])])
    assert in_app(app, lambda: open_work([users["demo-grid-worker"]])) == {
        users["demo-grid-worker"]: [WorkItem("确认心愿：帮忙买一袋米", False)]}
    result = run(app, "work-digest", utcnow())
    assert result["queued"] == 1
    [digest] = notified(app, users["demo-grid-worker"], "work_digest")
    assert digest["open"] == 1 and "帮忙买一袋米" in digest["summary"]


def test_the_jobs_work_through_many_wishes_in_batches(app, world, claimed_wish, monkeypatch):
    """Five claims, batches of two: each wish is reminded once and released once, with its
    own event and messages, and a second run finds nothing."""
    monkeypatch.setattr(expiry, "BATCH", 2)
    users = world["users"]
    start = utcnow()
    plan = [("demo-resident", "demo-party-member"), ("demo-resident", "demo-party-member"),
            ("demo-resident", "demo-party-member"), ("demo-resident-2", "demo-resident-3"),
            ("demo-resident-2", "demo-resident-3")]
    wishes = []
    for n, (requester, claimer) in enumerate(plan):
        with time_machine.travel(start + n * MINUTE, tick=False):
            wishes.append(claimed_wish(claimer, openid=requester, title=f"心愿{n}"))
    day5 = start + 5 * DAY + 10 * MINUTE
    assert run(app, "wish-claims", day5) == {"reminded": 5, "released": 0}
    assert run(app, "wish-claims", day5) == {"reminded": 0, "released": 0}
    reminders = notified(app, users["demo-party-member"], "wish_claim_reminder") + \
        notified(app, users["demo-resident-3"], "wish_claim_reminder")
    assert sorted(r["wish_id"] for r in reminders) == sorted(wishes)
    late = start + 7 * DAY + 10 * MINUTE
    assert run(app, "wish-claims", late) == {"reminded": 0, "released": 5}
    assert run(app, "wish-claims", late) == {"reminded": 0, "released": 0}
    for wish_id, (requester, claimer) in zip(wishes, plan, strict=True):
        row = wish_row(app, wish_id)
        assert row.status.value == "published" and row.claimer_id is None
        assert row.due_at == late + 30 * DAY
        assert [a for a, _ in events(app, wish_id)] == [
            "post", "approve", "claim", "claim_expired"]
        told = [n for n in notified(app, users[claimer], "wish_claim_update")
                if n["wish_id"] == wish_id]
        assert [(n["status"], n["title"]) for n in told] == [("已释放", row.title)]
        released = [n for n in notified(app, users[requester], "wish_update")
                    if n["wish_id"] == wish_id and n["note"] == "认领已释放，心愿重新等待认领"]
        assert len(released) == 1
    # 30 days on the wall after the release, in batches too.
    assert run(app, "wish-expiry", late + 30 * DAY + MINUTE) == {"expired": 5}
    assert {wish_row(app, w).status.value for w in wishes} == {"expired"}
    assert all(events(app, w)[-1] == ("expire", None) for w in wishes)
