"""Benchmark: 10,000 notifications through 1, 2 and 4 dispatchers against the sandbox.

    .venv/bin/python bench/bench_dispatch.py [--db postgres|sqlite|URL] [--messages 10000]

For each dispatcher count, the queue is filled with `--messages` subscribe messages (bulk
insert, one credit each), the dispatchers (`flask notifications dispatch --until-empty`,
separate processes) are started together, and the time until the last one exits gives
messages/s. Every message carries its own number, so the sandbox's record shows duplicates
(must be 0) and losses (must be 0). The ceiling is one bare wechatpy client sending subscribe
messages to the same sandbox back to back, for the same number of messages, in the same run.
Target: 4 dispatchers reach at least 70% of the ceiling.
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


def fill_queue(engine: sa.Engine, messages: int, users: int = 1000) -> None:
    """`messages` due subscribe messages spread over `users` users with enough credits."""
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
        conn.execute(sa.insert(Notification), [
            {"user_id": ids[i % users], "template_key": "work_digest",
             "payload": {**DIGEST, "summary": f"m{i}"}, "dedupe_key": f"bench:{i}",
             "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}
            for i in range(messages)])


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="postgres")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--dispatchers", default="1,2,4")
    args = parser.parse_args()
    with Stack(db=args.db, workers=1) as stack:
        stack.env["WECHAT_SUBSCRIBE_TEMPLATES"] = '{"work_digest": "bench-template"}'
        sandbox = stack.env["WECHAT_API_BASE"]
        engine = sa.create_engine(database_url(stack.database_url))
        rows = []
        requests.post(sandbox + "sandbox/reset", timeout=10)
        top = ceiling(sandbox, args.messages)
        rows.append(("1 bare wechatpy client (ceiling)", top, "-", "-", None))
        for count in [int(c) for c in args.dispatchers.split(",")]:
            fill_queue(engine, args.messages)
            requests.post(sandbox + "sandbox/reset", timeout=10)
            wall = run_dispatchers(stack, count)
            duplicates, missing, seconds = sandbox_check(sandbox, args.messages)
            with engine.connect() as conn:
                unsent = conn.execute(sa.text(
                    "SELECT count(*) FROM notifications WHERE status <> 'sent'")).scalar()
            rows.append((f"{count} dispatcher{'s' if count > 1 else ''}",
                         args.messages / seconds, duplicates, missing + unsent, wall))
        print(f"\n{args.messages} notifications, database {args.db}\n")
        print(f"{'':34} {'messages/s':>10} {'ratio':>6} {'duplicates':>10} {'lost':>5}"
              f" {'wall s':>7}")
        for name, rate, duplicates, lost, wall in rows:
            print(f"{name:34} {rate:10.0f} {rate / top:6.2f} {duplicates!s:>10} {lost!s:>5}"
                  f" {'' if wall is None else f'{wall:.1f}':>7}")
        print("\nmessages/s: first to last message received by the sandbox; wall s: from "
              "starting the dispatcher processes to the last one exiting (includes ~1.5 s of "
              "Python start-up).")


if __name__ == "__main__":
    main()
