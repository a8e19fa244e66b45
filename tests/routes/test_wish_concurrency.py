"""Simultaneous actions on wishes, with real threads (the wish's row lock on PostgreSQL, the
write lock on SQLite): one of twenty claims wins, a double-tapped confirm counts once, the
release job racing a fulfil leaves one consistent outcome, a claimer's limit holds."""
from __future__ import annotations

from datetime import timedelta

import time_machine

from app.jobs import get_job
from app.jobs.runner import run_job
from app.models.base import utcnow
from app.services.wishes import expiry
from tests.fixtures.wishes import ledger_entries, notified, wish_row
from tests.helpers import in_app, run_together
from tests.routes.test_wishes import events


def transition(app, headers, wish_id, action, **fields):
    response = app.test_client().post(f"/api/v1/wishes/{wish_id}/transitions", headers=headers,
                                      json={"action": action, **fields})
    body = response.get_json()
    return response.status_code, body if response.status_code == 200 else body["code"], body


def test_one_of_twenty_simultaneous_claims_wins(app, client, published_wish, volunteers):
    wish_id = published_wish()
    crowd = volunteers(20)
    outcomes = run_together(20, lambda i: transition(app, crowd[i], wish_id, "claim"))
    statuses = sorted(status for status, _, _ in outcomes)
    assert statuses == [200] + [409] * 19, outcomes
    losers = [body for status, _, body in outcomes if status == 409]
    assert {(b["code"], b["errors"]["status"]) for b in losers} == {
        ("invalid_transition", "claimed")}
    [winner] = [i for i, (status, _, _) in enumerate(outcomes) if status == 200]
    row = wish_row(app, wish_id)
    assert row.status.value == "claimed" and row.claim_count == 1
    assert outcomes[winner][1]["claimer"]["id"] == row.claimer_id
    assert [a for a, _ in events(app, wish_id)].count("claim") == 1
    # Only the winner holds the contact.
    for i, headers in enumerate(crowd):
        seen = client.get(f"/api/v1/wishes/{wish_id}", headers=headers).get_json()
        assert (seen["contact"] is not None) == (i == winner)


def test_a_double_tapped_confirm_awards_points_once(app, world, people, claimed_wish, wish_act,
                                                    photo):
    wish_id = claimed_wish()
    wish_act("demo-party-member", wish_id, "fulfil", photo_ids=[photo(people["demo-party-member"])])
    outcomes = run_together(2, lambda _: transition(app, people["demo-resident"], wish_id,
                                                    "confirm"))
    assert sorted(status for status, _, _ in outcomes) == [200, 409]
    assert [code for status, code, _ in outcomes if status == 409] == ["invalid_transition"]
    assert ledger_entries(app, wish_id) == [(world["users"]["demo-party-member"], 20)]
    assert [a for a, _ in events(app, wish_id)].count("confirm") == 1


def test_the_release_job_racing_a_fulfil_leaves_one_outcome(app, world, claimed_wish, photo,
                                                            auth):
    """Four rounds, each wish's claim running out an hour after the last one's; half the
    fulfils carry a note (checked with WeChat first, which gives the job a head start)."""
    start, hour = utcnow(), timedelta(hours=1)
    rounds = [("demo-resident", "demo-party-member"), ("demo-resident-2", "demo-party-member"),
              ("demo-resident", "demo-resident-3"), ("demo-resident-2", "demo-resident-3")]
    wishes = []
    for n, (requester, claimer) in enumerate(rounds):
        with time_machine.travel(start + n * hour, tick=False):
            wishes.append(claimed_wish(claimer, openid=requester))
    outcomes = set()
    for n, wish_id in enumerate(wishes):
        with time_machine.travel(start + timedelta(days=7, minutes=1) + n * hour, tick=False):
            claimer = auth(rounds[n][1])  # login tokens last 7 days
            proof = photo(claimer)
            note = {"note": "已完成"} if n % 2 == 0 else {}

            def work(i, wish_id=wish_id, proof=proof, note=note, claimer=claimer):
                if i == 0:
                    return in_app(app, lambda: run_job(get_job("wish-claims"), "race"))
                return transition(app, claimer, wish_id, "fulfil", photo_ids=[proof], **note)

            job, (status, _, body) = run_together(2, work)
        row = wish_row(app, wish_id)
        actions = [a for a, _ in events(app, wish_id)]
        assert actions[:3] == ["post", "approve", "claim"]
        if status == 200:  # the fulfil first: the job finds nothing due
            assert job["released"] == 0  # (the later wishes get their day-5 reminders)
            assert row.status.value == "fulfilled" and row.claimer_id is not None
            assert actions[3:] == ["fulfil"]
        else:  # the release first: the wish is published again, nothing to fulfil
            assert job["released"] == 1
            assert (status, body["code"], body["errors"]) == (
                409, "invalid_transition", {"status": "published"})
            assert row.status.value == "published" and row.claimer_id is None
            assert actions[3:] == ["claim_expired"]
        outcomes.add(status)
    assert outcomes <= {200, 409}


def test_a_claimers_limit_holds_under_simultaneous_claims(app, people, published_wish):
    wishes = [published_wish("demo-resident", title=f"心愿{n}") for n in range(2)] + \
        [published_wish("demo-resident-2", title=f"心愿{n}") for n in range(2)]
    outcomes = run_together(4, lambda i: transition(app, people["demo-party-member"], wishes[i],
                                                    "claim"))
    assert sorted(status for status, _, _ in outcomes) == [200, 200, 200, 409]
    assert [code for status, code, _ in outcomes if status == 409] == ["claim_limit_reached"]
    claimed = [w for w in wishes if wish_row(app, w).status.value == "claimed"]
    assert len(claimed) == 3


def test_the_release_job_racing_fulfils_across_batches(app, world, claimed_wish, photo, auth,
                                                       monkeypatch):
    """Four claims ran out at once; the job (batches of two) races the four claimers'
    fulfils. Each wish ends one way: fulfilled (its fulfil answered 200, no release event or
    release message) or released (one claim_expired event, requester and claimer told once,
    its fulfil answered 409 naming the state); the job counts exactly the released ones."""
    monkeypatch.setattr(expiry, "BATCH", 2)
    users = world["users"]
    start = utcnow()
    plan = [("demo-resident", "demo-party-member"), ("demo-resident", "demo-party-member"),
            ("demo-resident-2", "demo-resident-3"), ("demo-resident-2", "demo-resident-3")]
    with time_machine.travel(start, tick=False):
        wishes = [claimed_wish(claimer, openid=requester, title=f"心愿{n}")
                  for n, (requester, claimer) in enumerate(plan)]
    with time_machine.travel(start + timedelta(days=7, minutes=1), tick=False):
        claimers = {openid: auth(openid) for openid in ("demo-party-member", "demo-resident-3")}
        proofs = [photo(claimers[claimer]) for _, claimer in plan]

        def work(i):
            if i == 0:
                return in_app(app, lambda: run_job(get_job("wish-claims"), "race"))
            n = i - 1
            return transition(app, claimers[plan[n][1]], wishes[n], "fulfil",
                              photo_ids=[proofs[n]])

        job, *fulfils = run_together(5, work)
    released = 0
    for wish_id, (requester, claimer), (status, _, body) in zip(wishes, plan, fulfils, strict=True):
        row = wish_row(app, wish_id)
        actions = [a for a, _ in events(app, wish_id)]
        release_notes = [n for n in notified(app, users[claimer], "wish_claim_update")
                         if n["wish_id"] == wish_id]
        requester_notes = [n["status"] for n in notified(app, users[requester], "wish_update")
                           if n["wish_id"] == wish_id]
        if status == 200:
            assert row.status.value == "fulfilled" and row.claimer_id == users[claimer]
            assert actions == ["post", "approve", "claim", "fulfil"]
            assert release_notes == [] and requester_notes[-1] == "待确认"
        else:
            released += 1
            assert (status, body["code"], body["errors"]) == (
                409, "invalid_transition", {"status": "published"})
            assert row.status.value == "published" and row.claimer_id is None
            assert actions == ["post", "approve", "claim", "claim_expired"]
            assert [n["status"] for n in release_notes] == ["已释放"]
            assert requester_notes.count("待认领") == 2  # approved, then released
    assert job == {"reminded": 0, "released": released}
