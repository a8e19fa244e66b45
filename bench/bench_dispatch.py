"""Benchmark: notifications through 1, 2 and 4 dispatchers against the sandbox, and four
dispatchers draining a backlog of 100,000.

    .venv/bin/python bench/bench_dispatch.py [--db postgres|sqlite|URL] [--messages 10000]
                                             [--dispatchers 1,2,4] [--backlog 100000]
                                             [--sent 300000] [--ceiling-messages 10000]

For each dispatcher count, the queue is filled with `--messages` subscribe messages (one
credit each), the dispatchers (`flask notifications dispatch --until-empty`, separate
processes) are started together, and the time from the sandbox's first message to its last
gives messages/s. Every message carries its own number, so the sandbox's record shows
duplicates (must be 0) and losses (must be 0). The ceiling is one bare wechatpy client
sending subscribe messages to the same sandbox back to back (`--ceiling-messages` of them),
in the same run.

Then the backlog (PostgreSQL): `--sent` rows already sent and `--backlog` queued with the one
`next_attempt_at` a `notify_many` gives them; EXPLAIN ANALYZE of the dispatchers' claim
query (`dispatch.due`) with 100 queued and with the whole backlog queued (the same plan and
about the same buffers: the partial index `ix_notifications_pending`), then four
dispatchers drain it. Targets: four dispatchers at >= 0.9 of the ceiling, zero duplicates,
zero lost.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import BIN, ROOT, Stack  # noqa: E402

from config import database_url  # noqa: E402

DIGEST = {"open": 1, "overdue": 0, "at": "2026-11-22T00:00:00+00:00"}


def fill_queue(engine: sa.Engine, messages: int, users: int = 1000, sent: int = 0) -> None:
    """`messages` due subscribe messages spread over `users` users with enough credits, all
    with the same `next_attempt_at` (as one notify_many queues them), after `sent` rows
    already sent (PostgreSQL: generated server-side)."""
    from app.models import Notification, SubscriptionCredit, User
    from app.models.base import utcnow

    per_user, now = -(-messages // users), utcnow()
    with engine.begin() as conn:
        conn.execute(sa.delete(Notification))
        conn.execute(sa.delete(SubscriptionCredit))
        conn.execute(sa.delete(User).where(User.openid.like("bench-%")))
        conn.execute(sa.insert(User), [{"openid": f"bench-{i}", "nickname": "bench",
                                        "mp_following": False, "created_at": now}
                                       for i in range(users)])
        ids = list(conn.scalars(sa.select(User.id).where(User.openid.like("bench-%"))
                                .order_by(User.id)))
        conn.execute(sa.insert(SubscriptionCredit), [
            {"user_id": uid, "template_key": "work_digest", "remaining": per_user,
             "accepted_total": per_user, "rejected_total": 0, "updated_at": now}
            for uid in ids])
        if engine.dialect.name == "postgresql":
            for status, count in (("sent", sent), ("pending", messages)):
                conn.execute(sa.text(GENERATE_SQL), {
                    "status": status, "count": count, "ids": ids, "users": users,
                    "at": now.replace(tzinfo=None), "key": f"bench-{status}:"})
            return
        conn.execute(sa.insert(Notification), [
            {"user_id": ids[i % users], "template_key": "work_digest",
             "payload": {**DIGEST, "summary": f"m{i}"}, "dedupe_key": f"bench:{i}",
             "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}
            for i in range(messages)])


GENERATE_SQL = """
INSERT INTO notifications (user_id, template_key, payload, dedupe_key, status, channel,
                           attempts, next_attempt_at, created_at, sent_at)
SELECT (CAST(:ids AS integer[]))[1 + g % CAST(:users AS integer)], 'work_digest',
       json_build_object('open', 1, 'overdue', 0, 'at', '2026-11-22T00:00:00+00:00',
                         'summary', 'm' || g),
       CAST(:key AS varchar) || g, s.status,
       CASE WHEN s.status = 'sent' THEN 'subscribe' END,
       CASE WHEN s.status = 'sent' THEN 1 ELSE 0 END, s.at, s.at,
       CASE WHEN s.status = 'sent' THEN s.at END
FROM generate_series(0, CAST(:count AS integer) - 1) g,
     (SELECT CAST(:status AS varchar) AS status, CAST(:at AS timestamp) AS at) s
"""


def explain_claim(engine: sa.Engine, batch_size: int = 20, without: str | None = None) -> str:
    """The claim query's plan as PostgreSQL runs it now: access path, buffers, time
    (`without` an index: dropped for the EXPLAIN only, in a transaction rolled back)."""
    from sqlalchemy.dialects import postgresql

    from app.models.base import utcnow
    from app.services.notifications.dispatch import due

    query = due(utcnow(), batch_size)
    sql = str(query.compile(dialect=postgresql.dialect(),
                            compile_kwargs={"literal_binds": True}))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE notifications"))
    with engine.connect() as conn:
        if without:
            conn.execute(sa.text(f"DROP INDEX {without}"))
        plan = conn.execute(sa.text("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)).scalar()
        conn.rollback()
    top = plan[0]
    nodes, node = [], top["Plan"]
    while node:
        nodes.append(node["Node Type"] + (f" ({node['Index Name']})" if "Index Name" in node
                                          else ""))
        node = (node.get("Plans") or [None])[0]
    buffers = top["Plan"].get("Shared Hit Blocks", 0) + top["Plan"].get("Shared Read Blocks", 0)
    return (f"{' > '.join(nodes)}: {top['Execution Time']:.3f} ms, {buffers} buffers, "
            f"planned in {top['Planning Time']:.3f} ms")


def sandbox_check(sandbox: str, messages: int) -> tuple[int, int, float]:
    """(duplicates, missing, seconds from first to last message) as the sandbox saw them."""
    items = requests.get(sandbox + "sandbox/messages", params={"kind": "subscribe"},
                         timeout=60).json()["items"]
    seen = Counter(m["body"]["data"]["thing1"]["value"] for m in items)
    duplicates = sum(n - 1 for n in seen.values())
    missing = messages - len(seen)
    times = [m["received_at"] for m in items]
    return duplicates, missing, max(times) - min(times)


def ceiling(sandbox: str, messages: int) -> float:
    """Messages/s of one bare wechatpy client, back to back, against the same sandbox
    (measured like the dispatchers: first to last message received)."""
    from wechatpy.session.memorystorage import MemoryStorage

    from app.wechat.client import LinliWeChatClient

    client = LinliWeChatClient("wx-bench", "secret", sandbox, session=MemoryStorage())
    data = {"thing1": {"value": "x"}, "number2": {"value": "1"}}
    requests.post(sandbox + "sandbox/reset", timeout=10)
    client.fetch_access_token()
    for i in range(messages):
        client.wxa.send_subscribe_message("bench-ceiling", "t",
                                          {**data, "thing1": {"value": f"m{i}"}})
    duplicates, missing, seconds = sandbox_check(sandbox, messages)
    assert duplicates == missing == 0
    return messages / seconds


def run_dispatchers(stack: Stack, count: int) -> float:
    started = time.perf_counter()
    procs = [subprocess.Popen([str(BIN / "flask"), "notifications", "dispatch", "--until-empty"],
                              cwd=ROOT, env=stack.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(count)]
    outputs = [p.communicate(timeout=1800)[0] for p in procs]
    elapsed = time.perf_counter() - started
    if any(p.returncode for p in procs):
        raise RuntimeError("a dispatcher failed:\n" + "\n".join(outputs))
    return elapsed


def report_row(engine, sandbox, stack, name: str, messages: int, count: int) -> tuple:
    requests.post(sandbox + "sandbox/reset", timeout=10)
    wall = run_dispatchers(stack, count)
    duplicates, missing, seconds = sandbox_check(sandbox, messages)
    with engine.connect() as conn:
        unsent = conn.execute(sa.text(
            "SELECT count(*) FROM notifications WHERE status NOT IN ('sent') "
            "AND dedupe_key NOT LIKE 'bench-sent:%'")).scalar()
    return (name, messages / seconds, duplicates, missing + unsent, wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="postgres")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--dispatchers", default="1,2,4")
    parser.add_argument("--backlog", type=int, default=100_000,
                        help="messages queued for the four-dispatcher backlog run (0: none)")
    parser.add_argument("--sent", type=int, default=300_000,
                        help="rows already sent beside the backlog")
    parser.add_argument("--ceiling-messages", type=int, default=10_000)
    args = parser.parse_args()
    with Stack(db=args.db, workers=1) as stack:
        stack.env["WECHAT_SUBSCRIBE_TEMPLATES"] = '{"work_digest": "bench-template"}'
        sandbox = stack.env["WECHAT_API_BASE"]
        engine = sa.create_engine(database_url(stack.database_url))
        rows = []
        requests.post(sandbox + "sandbox/reset", timeout=10)
        top = ceiling(sandbox, args.ceiling_messages)
        rows.append(("1 bare wechatpy client (ceiling)", top, "-", "-", None))
        for count in [int(c) for c in args.dispatchers.split(",") if c]:
            fill_queue(engine, args.messages)
            rows.append(report_row(engine, sandbox, stack,
                                   f"{count} dispatcher{'s' if count > 1 else ''}",
                                   args.messages, count))
        plans = []
        if args.backlog and engine.dialect.name == "postgresql":
            for queued in (100, args.backlog):
                fill_queue(engine, queued, sent=args.sent)
                plans.append(f"claim with {queued:,} queued and {args.sent:,} sent: "
                             f"{explain_claim(engine)}")
                plans.append(f"  the same without ix_notifications_pending (before 0023): "
                             f"{explain_claim(engine, without='ix_notifications_pending')}")
            rows.append(report_row(engine, sandbox, stack,
                                   f"4 dispatchers, backlog of {args.backlog:,}",
                                   args.backlog, 4))
        print(f"\n{args.messages} notifications (backlog {args.backlog:,}), database {args.db}\n")
        print(f"{'':40} {'messages/s':>10} {'ratio':>6} {'duplicates':>10} {'lost':>5}"
              f" {'wall s':>7}")
        for name, rate, duplicates, lost, wall in rows:
            print(f"{name:40} {rate:10.0f} {rate / top:6.2f} {duplicates!s:>10} {lost!s:>5}"
                  f" {'' if wall is None else f'{wall:.1f}':>7}")
        print("\n".join(["", *plans]))
        print("\nmessages/s: first to last message received by the sandbox; wall s: from "
              "starting the dispatcher processes to the last one exiting (includes ~1.5 s of "
              "Python start-up).")


if __name__ == "__main__":
    main()
