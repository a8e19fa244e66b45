"""Benchmark: the 7:00 rush on the canteen, and a day's menu under load.

    .venv/bin/python bench/bench_canteen.py [--users 2000] [--capacity 300]
                                            [--rush-connections 64] [--duration 15] ...

PostgreSQL only (the users are generated server-side with `INSERT ... SELECT
generate_series`). One run:
1. the usual Stack (throwaway PostgreSQL, sandbox, the app under gunicorn), migrated and
   seeded (the demo has 示范社区's 幸福食堂 and its week of meals);
2. --users distinct residents of 示范社区, each with a verified household membership and a
   login token (`bench-token-<n>`, hashed as the app does), and one published lunch of
   --capacity seats five days ahead (its cutoff hours away);
3. the rush: every user sends `POST /api/v1/bookings {meal_id, quantity: 1, pay_with:
   counter}` once, all released at the same instant over --rush-connections connections
   (Python threads, one keep-alive session each). It must end with exactly --capacity
   bookings (`201`), every other answer `409 meal_full`, and the meal's `booked_count`,
   the bookings' rows and their portions all equal to --capacity: anything else fails the
   run. Printed: booking requests/s over the rush, p50 and p99;
4. `GET /api/v1/canteens/{id}/meals?date=<today>` (a random user's token each request)
   under wrk with the /healthz baseline in the same run, as a ratio to it (target ≥ 0.4).
"""
from __future__ import annotations

import json
import os
import signal
import statistics
import sys
import threading
import time
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import (  # noqa: E402
    RESULTS,
    Scenario,
    Stack,
    ensure_wrk,
    format_table,
    git_revision,
    parse_args,
    run_scenarios,
)

from config import database_url  # noqa: E402

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = "(now() at time zone 'utc')"  # the app stores naive UTC

MEALS_LUA = r"""
local n
function init(args)
  n = tonumber(os.getenv("BENCH_USERS"))
  math.randomseed(os.time() * 1000 + thread_id * 7919)
end
function request()
  return wrk.format("GET", nil, {Authorization = "Bearer bench-token-" .. math.random(1, n)}, nil)
end
"""


def options(parser) -> None:
    parser.add_argument("--users", type=int, default=2000, help="distinct residents booking")
    parser.add_argument("--capacity", type=int, default=300, help="seats of the rushed meal")
    parser.add_argument("--rush-connections", type=int, default=64,
                        help="concurrent connections sending the rush")


def utc_naive(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def create_residents(engine: sa.Engine, users: int) -> None:
    """Bench users n = 1..users living in 示范社区's households (verified memberships, the
    resident role) with token bench-token-<n>."""
    with engine.begin() as conn:
        conn.execute(sa.text(f"""
            INSERT INTO users (openid, nickname, mp_following, household_id, created_at)
            SELECT 'bench-' || g, '居民' || g, false, h.id, {NOW}
            FROM generate_series(1, CAST(:n AS int)) g
            JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k,
                         count(*) OVER () AS total FROM households) h
              ON h.k = g % h.total"""), {"n": users})
        conn.execute(sa.text(f"""
            INSERT INTO household_memberships (user_id, household_id, status, verified_by,
                                               decided_at, created_at)
            SELECT id, household_id, 'verified', 'grid_worker', {NOW}, {NOW}
            FROM users WHERE openid LIKE 'bench-%'"""))
        conn.execute(sa.text(f"""
            INSERT INTO role_grants (user_id, role, created_at)
            SELECT id, 'resident', {NOW} FROM users WHERE openid LIKE 'bench-%'"""))
        conn.execute(sa.text(f"""
            INSERT INTO auth_tokens (user_id, token_hash, created_at, expires_at)
            SELECT id, encode(sha256(convert_to('bench-token-' || substr(openid, 7), 'UTF8')),
                              'hex'), {NOW}, {NOW} + interval '30 days'
            FROM users WHERE openid LIKE 'bench-%'"""))
        conn.execute(sa.text("ANALYZE users, auth_tokens, household_memberships, role_grants"))


def create_meal(engine: sa.Engine, capacity: int) -> tuple[int, int, date]:
    """(canteen id, meal id, today) — a published lunch five days ahead, cutoff at its 09:00."""
    today = datetime.now(SHANGHAI).date()
    day = today + timedelta(days=5)

    def local(hour: int) -> datetime:
        return utc_naive(datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI))

    with engine.begin() as conn:
        canteen, community = conn.execute(sa.text(
            "SELECT id, community_id FROM canteens ORDER BY id LIMIT 1")).one()
        cook = conn.scalar(sa.text("SELECT id FROM users WHERE openid = 'demo-canteen'"))
        meal = conn.scalar(sa.text(f"""
            INSERT INTO meals (canteen_id, community_id, day, kind, dishes, capacity,
                               booked_count, price_fen, cutoff_at, pickup_starts_at,
                               pickup_ends_at, state, created_by_id, created_at, published_at)
            VALUES (:canteen, :community, :day, 'lunch', '["红烧肉", "米饭"]', :capacity, 0,
                    1500, :cutoff, :starts, :ends, 'published', :cook, {NOW}, {NOW})
            RETURNING id"""), {"canteen": canteen, "community": community, "day": day,
                                "capacity": capacity, "cutoff": local(9), "starts": local(11),
                                "ends": local(13), "cook": cook})
    return canteen, meal, today


def rush(url: str, meal_id: int, users: int, connections: int) -> dict:
    """Every user books once, all released together; returns answers and latencies."""
    barrier = threading.Barrier(connections)
    answers: Counter = Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    body = json.dumps({"meal_id": meal_id, "quantity": 1, "pay_with": "counter"})

    def worker(slot: int) -> None:
        session = requests.Session()
        mine = range(slot + 1, users + 1, connections)
        session.get(url + "/healthz", timeout=30)  # the connection is open before the start
        barrier.wait()
        for n in mine:
            started = time.perf_counter()
            res = session.post(url + "/api/v1/bookings", data=body, timeout=60, headers={
                "Authorization": f"Bearer bench-token-{n}", "Content-Type": "application/json"})
            took = time.perf_counter() - started
            code = res.json().get("code") if res.status_code != 201 else "booked"
            with lock:
                answers[(res.status_code, code)] += 1
                latencies.append(took)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    latencies.sort()
    return {"requests": len(latencies), "seconds": seconds, "rps": len(latencies) / seconds,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
            "answers": {f"{status} {code}": n for (status, code), n in sorted(answers.items())}}


def stored(engine: sa.Engine, meal_id: int) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("""
            SELECT (SELECT booked_count FROM meals WHERE id = :m) AS booked_count,
                   count(*) AS bookings, coalesce(sum(quantity), 0) AS portions,
                   count(DISTINCT booker_id) AS bookers
            FROM bookings WHERE meal_id = :m AND state <> 'cancelled'"""), {"m": meal_id})
            .one()._mapping)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], options)
    if args.db == "sqlite" or args.db.startswith("sqlite"):
        sys.exit("bench_canteen: PostgreSQL only (the users are generated with generate_series)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ensure_wrk()
    meta = {"bench": "canteen", "revision": git_revision(), **vars(args), "db": "postgres",
            "cpus": os.cpu_count(), "load_before": round(os.getloadavg()[0], 2)}
    print(" ".join(f"{k}={v}" for k, v in meta.items()), file=sys.stderr)
    with Stack(args.db, args.workers, args.worker_class) as stack:
        engine = sa.create_engine(database_url(stack.database_url))
        create_residents(engine, args.users)
        canteen, meal, today = create_meal(engine, args.capacity)
        print(f"rush: {args.users} users, one meal of {args.capacity} seats, "
              f"{args.rush_connections} connections", file=sys.stderr, flush=True)
        result = rush(stack.url, meal, args.users, args.rush_connections)
        rows = stored(engine, meal)
        scenarios = [Scenario("GET .../meals?date=", f"/api/v1/canteens/{canteen}/meals"
                              f"?date={today.isoformat()}", MEALS_LUA,
                              env={"BENCH_USERS": str(args.users)})]
        results = run_scenarios(stack.url, scenarios, args.connections, args.duration,
                                args.threads, args.rounds)
        engine.dispose()
    expected = {"201 booked": args.capacity, "409 meal_full": args.users - args.capacity}
    exact = result["answers"] == expected and rows == {
        "booked_count": args.capacity, "bookings": args.capacity, "portions": args.capacity,
        "bookers": args.capacity}
    print(f"\nthe 7:00 rush: {result['requests']} booking requests in {result['seconds']:.2f}s")
    print(f"  {result['rps']:.1f} req/s, p50 {result['p50_ms']:.1f} ms, "
          f"p99 {result['p99_ms']:.1f} ms")
    print(f"  answers: {result['answers']}")
    print(f"  stored: {rows} -> {'exactly' if exact else 'NOT'} {args.capacity} bookings")
    print()
    print(format_table(results))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"canteen-postgres-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({**meta, "rush": result, "stored": rows, "exact": exact,
                               "results": results}, indent=2, default=str))
    print(f"saved {out.relative_to(Path(__file__).resolve().parent.parent)}", file=sys.stderr)
    if not exact:
        sys.exit("bench: the rush did not end with exactly the meal's capacity booked")
    if any(r["errors"] for r in results):
        sys.exit("bench: some requests failed; these figures are not valid")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("bench: interrupted; every process it started has been stopped")
