"""Benchmark: `GET /api/v1/points` and `POST /api/v1/rewards/{id}/redeem` as the ledger grows.

    .venv/bin/python bench/bench_points.py [--accounts 100000] [--entries 5000000]
                                           [--small-entries 50000] [--duration 15] ...

PostgreSQL only (the ledger is generated server-side with `INSERT ... SELECT
generate_series`, no ORM). One run:
1. the usual Stack (throwaway PostgreSQL, sandbox, app under gunicorn), migrated and seeded;
2. --accounts users living in the demo community, each with a login token
   (`bench-token-<n>`, hashed as the app does) and a points account, and a reward costing
   1 point with unlimited stock;
3. the ledger filled to --small-entries (one +10 entry for each of the first accounts), and
   /healthz, GET /points (a random account each request) and redeem (a random account
   among those with points, a fresh Idempotency-Key each request) measured;
4. the ledger grown to --entries (50 per account by default), VACUUM ANALYZE, and the
   same three measured again;
5. `flask points verify` over the whole ledger (must be clean).

The balance is a cached column read by primary key and the ledger page is an index range
scan on (account_id, id), so per-request cost should not grow with the ledger: compare
the two p99s of GET /points, and the server-side EXPLAIN ANALYZE figures (plan, time,
buffers) of those two reads for 200 random accounts, printed under each table.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import (  # noqa: E402
    RESULTS,
    ROOT,
    Scenario,
    Stack,
    ensure_wrk,
    format_table,
    git_revision,
    parse_args,
    run_scenarios,
)

from config import database_url  # noqa: E402

POINTS_LUA = r"""
local n
function init(args)
  n = tonumber(os.getenv("BENCH_ACCOUNTS"))
  math.randomseed(os.time() * 1000 + thread_id * 7919)
end
function request()
  return wrk.format("GET", nil, {Authorization = "Bearer bench-token-" .. math.random(1, n)}, nil)
end
"""

REDEEM_LUA = r"""
local n, counter, prefix = 0, 0, ""
local body = '{"quantity": 1}'
function init(args)
  n = tonumber(os.getenv("BENCH_ACCOUNTS"))
  math.randomseed(os.time() * 1000 + thread_id * 104729)
  -- every wrk run (one per round) uses keys of its own: a repeated key would be a replay
  prefix = "bench-" .. os.time() .. "-" .. thread_id .. "-" .. math.random(1, 1000000000) .. "-"
end
function request()
  counter = counter + 1
  return wrk.format("POST", nil, {
    Authorization = "Bearer bench-token-" .. math.random(1, n),
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = prefix .. counter}, body)
end
"""

NOW = "(now() at time zone 'utc')"  # the app stores naive UTC


def options(parser) -> None:
    parser.add_argument("--accounts", type=int, default=100_000, help="points accounts")
    parser.add_argument("--entries", type=int, default=5_000_000,
                        help="ledger entries for the large measurement")
    parser.add_argument("--small-entries", type=int, default=50_000,
                        help="ledger entries for the small measurement")


def create_accounts(engine: sa.Engine, accounts: int) -> int:
    """Bench users n = 1..accounts with token bench-token-<n> and an empty account;
    returns the id of a reward costing 1 point."""
    with engine.begin() as conn:
        household = conn.scalar(sa.text("SELECT id FROM households ORDER BY id LIMIT 1"))
        community = conn.scalar(sa.text("SELECT id FROM communities ORDER BY id LIMIT 1"))
        conn.execute(sa.text(f"""
            INSERT INTO users (openid, nickname, mp_following, household_id, created_at)
            SELECT 'bench-' || g, '用户' || g, false, :household, {NOW}
            FROM generate_series(1, CAST(:n AS int)) g"""), {"household": household, "n": accounts})
        conn.execute(sa.text(f"""
            INSERT INTO auth_tokens (user_id, token_hash, created_at, expires_at)
            SELECT id, encode(sha256(convert_to('bench-token-' || substr(openid, 7), 'UTF8')),
                              'hex'), {NOW}, {NOW} + interval '30 days'
            FROM users WHERE openid LIKE 'bench-%'"""))
        conn.execute(sa.text(f"""
            INSERT INTO points_accounts (user_id, balance, version, ranking_public,
                                         created_at, updated_at)
            SELECT id, 0, 0, true, {NOW}, {NOW} FROM users WHERE openid LIKE 'bench-%'"""))
        return conn.scalar(sa.text(f"""
            INSERT INTO rewards (community_id, name, cost, stock, pickup_place, active,
                                 created_at, updated_at)
            VALUES (:community, '压测奖品', 1, 1000000000, '压测服务站', true, {NOW}, {NOW})
            RETURNING id"""), {"community": community})


def add_entries(engine: sa.Engine, first_n: int, last_n: int, first_k: int, last_k: int) -> int:
    """Entries k = first_k..last_k (+10 each, earning rules in turn) for bench users
    first_n..last_n, written k-major so one account's entries are spread over the table as
    they would be after months of use; balances and versions move with them."""
    started = time.monotonic()
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL maintenance_work_mem = '512MB'"))
        conn.execute(sa.text("SET LOCAL work_mem = '256MB'"))
        # Play by the app's rules: redemptions still finishing after wrk stopped hold
        # account row locks (FOR UPDATE); this waits for them and keeps new ones out.
        conn.execute(sa.text("LOCK TABLE points_accounts IN EXCLUSIVE MODE"))
        conn.execute(sa.text("""
            CREATE TEMP TABLE bench_accounts ON COMMIT DROP AS
            SELECT a.user_id, a.balance, substr(u.openid, 7)::int AS n
            FROM points_accounts a JOIN users u ON u.id = a.user_id
            WHERE u.openid LIKE 'bench-%' AND substr(u.openid, 7)::int BETWEEN :lo AND :hi"""),
            {"lo": first_n, "hi": last_n})
        added = conn.execute(sa.text(f"""
            INSERT INTO ledger_entries (account_id, amount, balance_after, rule, ref,
                                        idempotency_key, created_at)
            SELECT a.user_id, 10, a.balance + 10 * (k - CAST(:k0 AS int) + 1),
                   (ARRAY['incident_confirmed', 'volunteer_hour', 'wish_fulfilled'])[k % 3 + 1],
                   'bench:' || k, 'bench:' || a.user_id || ':' || k,
                   {NOW} - (CAST(:k1 AS int) - k) * interval '1 day' - a.n * interval '1 second'
            FROM generate_series(CAST(:k0 AS int), CAST(:k1 AS int)) k CROSS JOIN bench_accounts a
            ORDER BY k, a.n"""), {"k0": first_k, "k1": last_k}).rowcount
        conn.execute(sa.text("""
            UPDATE points_accounts p SET balance = p.balance + 10 * (CAST(:k1 AS int) - :k0 + 1),
                                         version = p.version + (CAST(:k1 AS int) - :k0 + 1)
            FROM bench_accounts a WHERE p.user_id = a.user_id"""), {"k0": first_k, "k1": last_k})
    print(f"  +{added:,} entries (users {first_n}..{last_n}, k {first_k}..{last_k}) in "
          f"{time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    return added


def vacuum(engine: sa.Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE ledger_entries, points_accounts, users, "
                             "auth_tokens, rewards, redemptions"))


def ledger_size(engine: sa.Engine) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("""
            SELECT (SELECT count(*) FROM ledger_entries) AS entries,
                   pg_size_pretty(pg_total_relation_size('ledger_entries')) AS size""")).one()
                    ._mapping)


def query_costs(engine: sa.Engine, accounts: int, samples: int = 200) -> dict:
    """Server-side cost of the two reads behind GET /points for random accounts, from
    EXPLAIN ANALYZE: plan, median and worst execution time, buffers touched."""
    import random
    import statistics

    queries = {
        "balance": "SELECT balance FROM points_accounts WHERE user_id = :u",
        "ledger page": "SELECT * FROM ledger_entries WHERE account_id = :u "
                       "ORDER BY id DESC LIMIT 21",
    }
    rng = random.Random(5)
    out = {}
    with engine.connect() as conn:
        ids = [conn.scalar(sa.text("SELECT id FROM users WHERE openid = :o"),
                           {"o": f"bench-{rng.randint(1, accounts)}"}) for _ in range(samples)]
        for name, sql in queries.items():
            times, buffers, plan = [], [], None
            for uid in ids:
                doc = conn.scalar(sa.text(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}"),
                                  {"u": uid})[0]
                node, steps = doc["Plan"], []
                while True:  # the first-child chain, e.g. Limit > Index Scan Backward
                    index = node.get("Index Name")
                    steps.append(node["Node Type"] + (f" ({index})" if index else ""))
                    if not node.get("Plans"):
                        break
                    node = node["Plans"][0]
                plan = " > ".join(s for s in steps if s != "Limit")
                top = doc["Plan"]
                times.append(doc["Execution Time"])
                buffers.append(top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0))
            out[name] = {"plan": plan, "median_ms": statistics.median(times),
                         "max_ms": max(times), "median_buffers": statistics.median(buffers)}
    return out


def scenarios(reward_id: int, accounts: int, with_points: int) -> list[Scenario]:
    return [
        Scenario("GET /api/v1/points", "/api/v1/points", POINTS_LUA,
                 env={"BENCH_ACCOUNTS": str(accounts)}),
        Scenario("POST .../redeem", f"/api/v1/rewards/{reward_id}/redeem", REDEEM_LUA,
                 env={"BENCH_ACCOUNTS": str(with_points)}),
    ]


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], options)
    if args.db == "sqlite" or args.db.startswith("sqlite"):
        sys.exit("bench_points: PostgreSQL only (the ledger is generated with generate_series)")
    per_account = args.entries // args.accounts
    if per_account * args.accounts != args.entries or args.small_entries > args.accounts:
        sys.exit("bench_points: --entries must be a multiple of --accounts, and "
                 "--small-entries at most --accounts")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ensure_wrk()
    meta = {"bench": "points", "revision": git_revision(), **vars(args), "db": "postgres",
            "cpus": os.cpu_count(), "load_before": round(os.getloadavg()[0], 2)}
    print(" ".join(f"{k}={v}" for k, v in meta.items()), file=sys.stderr)
    phases = []
    with Stack(args.db, args.workers, args.worker_class) as stack:
        engine = sa.create_engine(database_url(stack.database_url))
        reward_id = create_accounts(engine, args.accounts)
        add_entries(engine, 1, args.small_entries, 1, 1)
        vacuum(engine)
        for label, grow in (("small", None), ("large", True)):
            if grow:
                add_entries(engine, args.small_entries + 1, args.accounts, 1, 1)
                add_entries(engine, 1, args.accounts, 2, per_account)
                started = time.monotonic()
                vacuum(engine)
                print(f"  VACUUM ANALYZE in {time.monotonic() - started:.0f}s", file=sys.stderr)
            size = ledger_size(engine)
            print(f"phase {label}: {size['entries']:,} ledger entries ({size['size']})",
                  file=sys.stderr, flush=True)
            # Small phase: only the first accounts hold points to redeem with.
            with_points = args.small_entries if label == "small" else args.accounts
            costs = query_costs(engine, args.accounts)
            results = run_scenarios(stack.url, scenarios(reward_id, args.accounts, with_points),
                                    args.connections, args.duration, args.threads, args.rounds)
            phases.append({"phase": label, **size, "results": results, "queries": costs})
        started = time.monotonic()
        verified = stack.flask("points", "verify").strip()
        verify_seconds = time.monotonic() - started
        engine.dispose()
    for phase in phases:
        print(f"\n{phase['entries']:,} ledger entries ({phase['size']}), "
              f"{args.accounts:,} accounts")
        print(format_table(phase["results"]))
        for name, c in phase["queries"].items():
            print(f"  {name:<12} {c['plan']:<56} median {c['median_ms']:.3f} ms, "
                  f"max {c['max_ms']:.3f} ms, {c['median_buffers']:.0f} buffers")
    p99 = [next(r["p99_ms"] for r in p["results"] if r["scenario"] == "GET /api/v1/points")
           for p in phases]
    print(f"\nGET /api/v1/points p99: {p99[0]:.1f} ms at {phases[0]['entries']:,} entries, "
          f"{p99[1]:.1f} ms at {phases[1]['entries']:,}")
    print(f"flask points verify: {verified} ({verify_seconds:.1f}s)")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"points-postgres-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({**meta, "phases": phases, "verify": verified,
                               "verify_seconds": verify_seconds}, indent=2))
    print(f"saved {out.relative_to(ROOT)}", file=sys.stderr)
    if any(r["errors"] for p in phases for r in p["results"]):
        sys.exit("bench: some requests failed; these figures are not valid")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("bench: interrupted; every process it started has been stopped")
