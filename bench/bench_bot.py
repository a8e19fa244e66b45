"""Benchmark: the official-account bot's `POST /wechat/callback`, against the /healthz
baseline, on the three paths WeChat exercises, each measured on its own:

    .venv/bin/python bench/bench_bot.py [--db postgres|sqlite|URL] [--connections 16]
        [--duration 15] [--workers 4] [--followers 1000] [--rate 200] [--rate-seconds 10]
        [--worker-nice 10] [--dispatcher-nice 10]

- **passive**: a text ("你好") from one of --followers followers, each request a new MsgId:
  session row lock, dedupe insert, routing, commit, a signed XML reply;
- **dedupe**: WeChat's retries: the same (follower, MsgId) again, answered `success` after
  the dedupe lookup (every follower's message was handled once beforehand);
- **deferred**: a photo from a bound resident at the 报事 photo step (rate × rate-seconds
  residents are put at that step directly in the database, so each photo is a first one):
  the inbound row is queued and committed, the callback answers `success`, the bot worker
  (`flask wechat bot-worker`, one process; the web workers run with BOT_DEFERRED_THREADS=0,
  as production does) downloads the photo from the sandbox and queues the customer-service
  answer, which a real `flask notifications dispatch` process delivers to the sandbox.
  The bot worker runs at `--worker-nice` (`flask wechat bot-worker --nice`) and the
  dispatcher at `--dispatcher-nice` (`flask notifications dispatch --nice`), as Procfile.dev
  runs them: the callbacks come first on a shared machine. Each runs in a session of its
  own, as a service does, so its `--nice` also lowers its session's autogroup (without
  that, Linux weighs each session as one, and a niced service takes as much CPU as the web
  processes); 0 for either runs it at the callbacks' priority.

Two measurements:
1. **at a fixed rate** (--rate messages/s, open loop, for --rate-seconds each, interleaved
   with /healthz at the same rate): throughput reached, p50 and p99 measured from when each
   request was due (queueing counts, no coordinated omission), errors, and p99 as a ratio
   to /healthz's p99 in the same run. For the deferred path also the time until each
   customer-service answer reached the sandbox, and that each arrived exactly once;
2. **at full load** with wrk (passive, dedupe; the harness's table): requests/s as a ratio
   to /healthz in the same run.

Every request is signed as WeChat signs it (`signature` over token, timestamp, nonce: the
query is fixed, the body varies). Rate limits are off in the harness.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness import BIN, RESULTS, ROOT, Scenario, main  # noqa: E402

from app.wechat.sandbox import message_xml, signed_query  # noqa: E402

TOKEN = "sandbox-token"
QUERY = "/wechat/callback?" + signed_query(TOKEN, "1764633600", "benchnonce")

BODY = ('<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[mp-bench-%d]]>'
        '</FromUserName><CreateTime>1764633600</CreateTime><MsgType><![CDATA[text]]></MsgType>'
        '<Content><![CDATA[你好]]></Content><MsgId>%s</MsgId></xml>')

PASSIVE_LUA = r"""
local pool, n, base
local headers = {["Content-Type"] = "text/xml"}
function init(args)
  pool = tonumber(os.getenv("BENCH_POOL"))
  n = 0
  -- a MsgId never used before: this run's start, the thread, a counter
  base = os.time() * 100000000 + thread_id * 10000000
end
function request()
  n = n + 1
  return wrk.format("POST", nil, headers, string.format(os.getenv("BENCH_BODY"),
    (thread_id * 7919 + n) % pool, string.format("%.0f", base + n)))
end
"""

DEDUPE_LUA = r"""
local pool, n
local headers = {["Content-Type"] = "text/xml"}
function init(args)
  pool = tonumber(os.getenv("BENCH_POOL"))
  n = thread_id * 37
end
function request()
  n = n + 1
  local who = n % pool
  return wrk.format("POST", nil, headers, string.format(os.getenv("BENCH_BODY"), who,
    string.format("%d", 900000000 + who)))
end
"""



def options(parser) -> None:
    parser.add_argument("--followers", type=int, default=1000,
                        help="distinct followers the passive and dedupe scenarios cycle over")
    parser.add_argument("--rate", type=int, default=200, help="messages/s of the fixed-rate runs")
    parser.add_argument("--rate-seconds", type=float, default=10,
                        help="seconds of each fixed-rate run (the deferred run needs "
                             "rate × seconds residents at the photo step)")
    parser.add_argument("--client-threads", type=int, default=64,
                        help="threads sending the fixed-rate requests")
    parser.add_argument("--worker-nice", type=int, default=10,
                        help="the bot worker's `--nice` (0: the callbacks' CPU priority)")
    parser.add_argument("--dispatcher-nice", type=int, default=10,
                        help="the dispatcher's `--nice` (0: the callbacks' CPU priority)")


def post(url: str, xml: str) -> tuple[int, str, float]:
    started = time.monotonic()
    res = requests.post(url + QUERY, data=xml.encode(), timeout=10,
                        headers={"Content-Type": "text/xml"})
    return res.status_code, res.text, time.monotonic() - started


def prepare_dedupe(stack, followers: int) -> None:
    """Each follower's dedupe message handled once (and its unionid fetched)."""
    def one(who: int):
        status, _, _ = post(stack.url, BODY % (who, 900000000 + who))
        assert status == 200
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(followers)))


def database_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) \
        if url.startswith("postgresql://") else url


def photo_step_residents(stack, count: int) -> list[str]:
    """`count` bound followers (mp-bench-photo-<n>) at the 报事 photo step, written directly:
    each one's photo is a first photo, deferred like any other."""
    from app.models import BotSession, User

    now = datetime.now(timezone.utc)
    engine = sa.create_engine(database_url(stack.database_url))
    openids = [f"mp-bench-photo-{n}" for n in range(count)]
    with engine.begin() as conn:
        conn.execute(sa.insert(User.__table__), [
            {"openid": f"bench-photo-{n}", "unionid": f"union-bench-photo-{n}", "nickname": "居民",
             "mp_openid": openids[n], "mp_following": True, "created_at": now}
            for n in range(count)])
        ids = dict(conn.execute(sa.select(User.openid, User.id).where(
            User.openid.like("bench-photo-%"))).all())
        conn.execute(sa.insert(BotSession.__table__), [
            {"openid": openids[n], "unionid": f"union-bench-photo-{n}",
             "user_id": ids[f"bench-photo-{n}"], "following": True, "flow": "report",
             "step": "photo", "version": 3, "misunderstood": 0, "last_seen_at": now,
             "created_at": now, "expires_at": now + timedelta(hours=6),
             "data": {"codes": ["facility"], "names": ["设施损坏"], "category": "facility",
                      "category_name": "设施损坏", "description": "楼道灯不亮，晚上看不见"}}
            for n in range(count)])
    engine.dispose()
    return openids


class Paced:
    """Open-loop load: request i is due at start + i / rate and its latency counts from
    then, so a server falling behind shows in p99 (no coordinated omission)."""

    def __init__(self, threads: int):
        self.pool = ThreadPoolExecutor(threads)
        self.local = threading.local()

    def run(self, rate: int, seconds: float, make) -> dict:
        """`make(i)` -> (method, url, body or None, expected body or None)."""
        total = max(1, int(rate * seconds))
        results: list = [None] * total
        start = time.monotonic() + 0.2
        wall = time.time() + 0.2

        def one(i: int, due: float) -> None:
            http = getattr(self.local, "http", None) or requests.Session()
            self.local.http = http
            method, url, body, expected = make(i)
            try:
                res = http.request(method, url, data=body, timeout=10,
                                   headers={"Content-Type": "text/xml"} if body else None)
                ok = res.status_code == 200 and (expected is None or res.text == expected)
            except requests.RequestException:
                ok = False
            results[i] = (time.monotonic() - due, ok)

        futures = []
        for i in range(total):
            due = start + i / rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            futures.append(self.pool.submit(one, i, due))
        for future in futures:
            future.result()
        elapsed = max(time.monotonic() - start, 1e-9)
        latencies = sorted(r[0] for r in results)
        return {"requests": total, "rps": total / elapsed, "errors": sum(not r[1] for r in results),
                "p50_ms": statistics.median(latencies) * 1000,
                "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
                "wall_start": wall}


def custom_arrivals(sandbox: str, prefix: str) -> dict[str, list[float]]:
    items = requests.get(sandbox + "sandbox/messages?kind=custom", timeout=30).json()["items"]
    found: dict[str, list[float]] = {}
    for m in items:
        if m["body"]["touser"].startswith(prefix):
            found.setdefault(m["body"]["touser"], []).append(m["received_at"])
    return found


def at_rate(stack, args) -> list[dict]:
    """Each path at --rate messages/s, one after the other, each after /healthz."""
    rate, seconds = args.rate, args.rate_seconds
    sandbox = stack.env["WECHAT_API_BASE"]
    residents = photo_step_residents(stack, int(rate * seconds))
    paced = Paced(args.client_threads)
    base = int(time.time() * 1000) * 1000
    target = stack.url + QUERY
    # Each in a session of its own, as a service runs: `--nice` lowers the session's
    # priority too (autogroup scheduling, see app.cli._lower_priority).
    dispatcher = subprocess.Popen([str(BIN / "flask"), "notifications", "dispatch",
                                   "--nice", str(args.dispatcher_nice)], cwd=ROOT,
                                  env=stack.env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
    # The web workers run with BOT_DEFERRED_THREADS=0 (set below): the photos' downloads and
    # decoding run in one bot worker process, as in production, not beside the callbacks.
    worker = subprocess.Popen([str(BIN / "flask"), "wechat", "bot-worker",
                               "--nice", str(args.worker_nice)], cwd=ROOT,
                              env=stack.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    paths = {
        "passive": lambda i: ("POST", target, (BODY % (i % args.followers, base + i)).encode(),
                              None),
        "dedupe": lambda i: ("POST", target, (BODY % (i % args.followers,
                                                     900000000 + i % args.followers)).encode(),
                             "success"),
        "deferred": lambda i: ("POST", target, message_xml(
            residents[i], "image", media_id="sandbox-jpeg-bench", msg_id=base + 10 ** 6 + i
        ).encode(), "success"),
    }
    healthz = ("GET", stack.url + "/healthz", None, None)
    rows = []
    try:
        for name, make in paths.items():
            baseline = paced.run(rate, seconds, lambda i: healthz)
            result = paced.run(rate, seconds, make)
            row = {"path": name, **result, "healthz_p99_ms": baseline["p99_ms"],
                   "p99_vs_healthz": result["p99_ms"] / max(baseline["p99_ms"], 1e-6)}
            if name == "deferred":
                row.update(delivered(sandbox, residents, result["wall_start"], rate))
            rows.append(row)
            print(f"  at {rate}/s: {name} done", file=sys.stderr, flush=True)
    finally:
        for process in (dispatcher, worker):
            process.terminate()
            process.wait(15)
        paced.pool.shutdown()
    return rows


def delivered(sandbox: str, residents: list[str], wall_start: float, rate: int,
              timeout: float = 120) -> dict:
    """Wait for every resident's customer-service answer; latency from the photo's due time."""
    deadline = time.monotonic() + timeout
    while True:
        arrivals = custom_arrivals(sandbox, "mp-bench-photo-")
        if len(arrivals) >= len(residents) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    late = sorted(arrivals[openid][0] - (wall_start + i / rate)
                  for i, openid in enumerate(residents) if openid in arrivals)
    return {"answered": len(arrivals), "answered_twice": sum(len(v) > 1 for v in arrivals.values()),
            "delivered_p50_ms": statistics.median(late) * 1000 if late else None,
            "delivered_p99_ms": late[max(0, int(len(late) * 0.99) - 1)] * 1000 if late else None}


def format_rate(rows: list[dict], rate: int) -> str:
    head = (f"{'at ' + str(rate) + ' msg/s':<18} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'errors':>7} {'/healthz p99':>12} {'p99 ratio':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['path']:<18} {r['rps']:>8.1f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} "
                     f"{r['errors']:>7d} {r['healthz_p99_ms']:>12.1f} {r['p99_vs_healthz']:>9.2f}")
        if "answered" in r:
            lines.append(f"  customer-service answers: {r['answered']} of {r['requests']}, "
                         f"{r['answered_twice']} twice; in the sandbox p50 "
                         f"{r['delivered_p50_ms'] or 0:.0f} ms, p99 {r['delivered_p99_ms'] or 0:.0f} ms")
    return "\n".join(lines)


def scenarios(stack, args) -> list[Scenario]:
    prepare_dedupe(stack, args.followers)
    rows = at_rate(stack, args)
    print(format_rate(rows, args.rate), flush=True)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"bot-rate-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"rate": args.rate, "seconds": args.rate_seconds,
                               "workers": args.workers, "worker_nice": args.worker_nice,
                               "dispatcher_nice": args.dispatcher_nice, "rows": rows}, indent=2))
    bad = [r["path"] for r in rows if r["errors"] or r.get("answered", r["requests"]) != r["requests"]
           or r.get("answered_twice")]
    if bad:
        print(f"bench_bot: fixed-rate run not valid for {bad} (errors, lost or doubled answers)",
              file=sys.stderr)
    env = {"BENCH_POOL": str(args.followers), "BENCH_BODY": BODY}
    return [
        Scenario("POST callback (passive)", QUERY, PASSIVE_LUA, env=env),
        Scenario("POST callback (dedupe)", QUERY, DEDUPE_LUA, env=env),
    ]


if __name__ == "__main__":
    os.environ.setdefault("BOT_REPLY_SECONDS", "4")
    os.environ.setdefault("BOT_DEFERRED_THREADS", "0")  # the bot worker runs them
    uploads = tempfile.mkdtemp(prefix="linli-bench-uploads.")  # the deferred path's photos
    os.environ.setdefault("UPLOAD_DIR", uploads)
    try:
        main("bot", scenarios, __doc__.splitlines()[0], options)
    finally:
        shutil.rmtree(uploads, ignore_errors=True)
