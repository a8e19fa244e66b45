"""Benchmark: the official-account bot's `POST /wechat/callback`, against the /healthz
baseline, on the three paths WeChat exercises:

    .venv/bin/python bench/bench_bot.py [--db postgres|sqlite|URL] [--connections 16]
                                        [--duration 15] [--workers 4] [--followers 1000]

- **passive**: a text ("你好") from one of --followers followers, each request a new MsgId:
  session row lock, dedupe insert, routing, commit, a signed XML reply;
- **dedupe**: WeChat's retries: the same (follower, MsgId) again, answered `success` after
  the lock and the dedupe lookup (every follower's message was handled once beforehand);
- **deferred** (measured in the setup with Python threads, not wrk, because each deferred
  message needs a follower at the photo step of 报事): the demo's four residents each walk
  报事 up to the photo, then send it; the figure is the callback's answer time (`success`)
  and the time until the customer-service answer reaches the sandbox through a real
  `flask notifications dispatch` process.

Every request is signed as WeChat signs it (`signature` over token, timestamp, nonce: the
query is fixed, the body varies). Rate limits are off in the harness.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness import BIN, ROOT, Scenario, main  # noqa: E402

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

RESIDENTS = ["demo-resident", "demo-resident-2", "demo-resident-3", "demo-party-member"]


def options(parser) -> None:
    parser.add_argument("--followers", type=int, default=1000,
                        help="distinct followers the passive and dedupe scenarios cycle over")
    parser.add_argument("--deferred-rounds", type=int, default=15,
                        help="photos each demo resident sends in the deferred measurement")


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


def measure_deferred(stack, rounds: int) -> dict:
    """Photos at the 报事 photo step: the callback's answer time and the customer-service
    answer's arrival in the sandbox (a dispatcher process running)."""
    sandbox = stack.env["WECHAT_API_BASE"]
    for openid in RESIDENTS:
        stack.login(openid)  # the unionid the follower is bound by
    dispatcher = subprocess.Popen([str(BIN / "flask"), "notifications", "dispatch"], cwd=ROOT,
                                  env=stack.env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
    answers, arrivals, msg = [], [], [int(time.time() * 1000)]

    def walk(openid: str) -> None:
        follower = "mp-" + openid
        for _ in range(rounds):
            for text in ("取消", "1", "1", "楼道灯不亮，晚上看不见"):
                msg[0] += 1
                status, body, _ = post(stack.url, message_xml(follower, content=text, msg_id=msg[0]))
                assert status == 200 and body != "success", (text, body[:200])
            msg[0] += 1
            before = time.monotonic()
            status, body, took = post(stack.url, message_xml(
                follower, "image", media_id="sandbox-jpeg-bench", msg_id=msg[0]))
            assert status == 200 and body == "success", body[:200]
            answers.append(took)
            arrivals.append(wait_custom(sandbox, follower, before))

    try:
        requests.post(sandbox + "sandbox/reset", timeout=5)
        for openid in RESIDENTS:  # fresh tokens after the reset
            stack.login(openid)
        with ThreadPoolExecutor(len(RESIDENTS)) as pool:
            list(pool.map(walk, RESIDENTS))
    finally:
        dispatcher.terminate()
        dispatcher.wait(15)
    return {"messages": len(answers),
            "answer_p50_ms": statistics.median(answers) * 1000,
            "answer_p99_ms": sorted(answers)[int(len(answers) * 0.99) - 1] * 1000,
            "delivered_p50_ms": statistics.median(arrivals) * 1000,
            "delivered_max_ms": max(arrivals) * 1000}


_seen: dict[str, int] = {}


def wait_custom(sandbox: str, follower: str, since: float, timeout: float = 20) -> float:
    """Seconds from `since` until one more customer-service message reached `follower`."""
    want = _seen.get(follower, 0) + 1
    while time.monotonic() - since < timeout:
        items = requests.get(sandbox + "sandbox/messages?kind=custom", timeout=5).json()["items"]
        count = sum(1 for m in items if m["body"]["touser"] == follower)
        if count >= want:
            _seen[follower] = count
            return time.monotonic() - since
        time.sleep(0.02)
    raise RuntimeError(f"no customer-service answer for {follower} within {timeout}s")


def scenarios(stack, args) -> list[Scenario]:
    deferred = measure_deferred(stack, args.deferred_rounds)
    print("deferred path (photo at the 报事 photo step, %(messages)d messages): callback answers "
          "`success` p50 %(answer_p50_ms).1f ms, p99 %(answer_p99_ms).1f ms; the "
          "customer-service answer in the sandbox p50 %(delivered_p50_ms).0f ms, max "
          "%(delivered_max_ms).0f ms" % deferred, file=sys.stderr, flush=True)
    (stack.tmp / "deferred.txt").write_text(repr(deferred))
    prepare_dedupe(stack, args.followers)
    env = {"BENCH_POOL": str(args.followers), "BENCH_BODY": BODY}
    return [
        Scenario("POST callback (passive)", QUERY, PASSIVE_LUA, env=env),
        Scenario("POST callback (dedupe)", QUERY, DEDUPE_LUA, env=env),
    ]


if __name__ == "__main__":
    os.environ.setdefault("BOT_REPLY_SECONDS", "4")
    main("bot", scenarios, __doc__.splitlines()[0], options)
