"""Benchmark: incident lists at 10,000 and at 1,000,000 incidents, and the SLA job.

    .venv/bin/python bench/bench_incidents.py [--incidents 1000000] [--users 100000]
                                              [--duration 15] [--connections 16]

PostgreSQL only (the generator is server-side SQL). The generator adds 50 compounds with
500 buildings in 100 grids, one grid worker per grid, `--users` residents, then incidents
spread over them: reporters at random, each building's grid worker as assignee, 10% open
(filed in the last 24 hours, on their SLA ladder), the rest closed over the last year.

Printed, all from one run:
1. `GET /api/v1/incidents?scope=assigned` (grid workers) and `?scope=mine` (residents)
   under load at 10,000 incidents, with the ratio to `GET /healthz`;
2. the same at `--incidents` (target: ratio >= 0.4; p99 within 1.5x of the p99 at 10,000);
3. the SLA job (`incident-sla`) over the open incidents at that size: a normal minute, and
   the catch-up after an hour without a scheduler (target: under 2 seconds); then VACUUM
   ANALYZE, so that autovacuum does not clean up after the job during (2).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_auth import ME_LUA  # noqa: E402  (rotates over a file of tokens)
from harness import Scenario, format_table, main, run_scenarios  # noqa: E402

from config import database_url  # noqa: E402

ORG_SQL = """
INSERT INTO grids (community_id, name)
  SELECT 1, 'bench-grid-' || g FROM generate_series(1, 100) g;
INSERT INTO compounds (community_id, name)
  SELECT 1, 'bench-compound-' || g FROM generate_series(1, 50) g;
INSERT INTO buildings (compound_id, grid_id, name, lat, lng)
  SELECT c.id, gr.id, 'B' || g, 38.60 + (g % 50) * 0.003, 111.50 + (g / 50) * 0.003
  FROM generate_series(1, 500) g
  JOIN compounds c ON c.name = 'bench-compound-' || ((g - 1) % 50 + 1)
  JOIN grids gr ON gr.name = 'bench-grid-' || ((g - 1) % 100 + 1);
INSERT INTO users (openid, nickname, mp_following, created_at)
  SELECT 'bench-worker-' || g, '网格员' || g, false, now() FROM generate_series(1, 100) g;
INSERT INTO role_grants (user_id, role, scope_kind, scope_id, created_at)
  SELECT u.id, 'grid_worker', 'grid', gr.id, now() FROM generate_series(1, 100) g
  JOIN users u ON u.openid = 'bench-worker-' || g
  JOIN grids gr ON gr.name = 'bench-grid-' || g;
INSERT INTO users (openid, nickname, mp_following, created_at)
  SELECT 'bench-resident-' || g, '居民' || g, false, now() FROM generate_series(1, CAST(:users AS integer)) g;
INSERT INTO role_grants (user_id, role, created_at)
  SELECT id, 'resident', now() FROM users WHERE openid LIKE 'bench-resident-%';
"""

INCIDENTS_SQL = """
WITH b AS (SELECT array_agg(b.id ORDER BY b.id) AS ids FROM buildings b
           JOIN compounds c ON c.id = b.compound_id WHERE c.name LIKE 'bench-compound-%'),
     r AS (SELECT min(id) AS lo, max(id) AS hi FROM users WHERE openid LIKE 'bench-resident-%'),
     k AS (SELECT array_agg(id ORDER BY id) AS ids FROM incident_categories),
     src AS (
       SELECT g, b.ids[1 + (g * 7919) % array_length(b.ids, 1)] AS building_id,
              r.lo + (g * 104729) % (r.hi - r.lo + 1) AS reporter_id,
              k.ids[1 + g % array_length(k.ids, 1)] AS category_id,
              (g % 10 = 0) AS is_open,
              CASE WHEN g % 10 = 0 THEN now() - (g % 1440) * interval '1 minute'
                   ELSE now() - interval '1 day' - (g % 525600) * interval '1 minute' END AS t
       FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) g, b, r, k)
INSERT INTO incidents (reporter_id, category_id, description, anonymous, lat, lng,
                       building_id, compound_id, grid_id, community_id, status, assignee_id,
                       respond_by, resolve_by, responded_at, resolved_at, closed_at,
                       close_reason, follower_count, reopen_count, sla_next_at, created_at,
                       updated_at, public)
SELECT s.reporter_id, s.category_id, '压测随手拍 ' || s.g, false, bl.lat, bl.lng, bl.id,
       bl.compound_id, bl.grid_id, 1,
       CASE WHEN s.is_open THEN (CASE WHEN s.g % 20 = 0 THEN 'dispatched' ELSE 'accepted' END)
            ELSE 'closed' END,
       gw.user_id, s.t + interval '1 hour', s.t + interval '24 hours',
       CASE WHEN s.is_open AND s.g % 20 = 0 THEN NULL ELSE s.t + interval '20 minutes' END,
       CASE WHEN s.is_open THEN NULL ELSE s.t + interval '5 hours' END,
       CASE WHEN s.is_open THEN NULL ELSE s.t + interval '6 hours' END,
       CASE WHEN s.is_open THEN NULL ELSE 'confirmed' END, 0, 0,
       CASE WHEN NOT s.is_open THEN NULL
            WHEN s.g % 20 = 0 THEN s.t + interval '45 minutes'
            ELSE s.t + interval '1425 minutes' END,
       s.t, s.t, ic.public
FROM src s JOIN buildings bl ON bl.id = s.building_id
JOIN incident_categories ic ON ic.id = s.category_id
JOIN role_grants gw ON gw.role = 'grid_worker' AND gw.scope_kind = 'grid'
                   AND gw.scope_id = bl.grid_id;
"""


def grow(engine: sa.Engine, first: int, last: int) -> float:
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.text(INCIDENTS_SQL), {"first": first, "last": last})
    vacuum(engine, "incidents")
    return time.perf_counter() - started


def vacuum(engine: sa.Engine, tables: str) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"VACUUM ANALYZE {tables}"))


def write_tokens(stack, path: Path, openids: list[str]) -> None:
    path.write_text("\n".join(stack.login(openid) for openid in openids))


def sla_seconds(stack, env_extra: dict | None = None) -> str:
    """Run the SLA job once by hand and return its own log line (count and duration)."""
    import subprocess

    from harness import BIN, ROOT

    out = subprocess.run([str(BIN / "flask"), "jobs", "run-once", "incident-sla"], cwd=ROOT,
                         env={**stack.env, "LOG_LEVEL": "INFO", **(env_extra or {})},
                         capture_output=True, text=True, check=True)
    return [line for line in (out.stdout + out.stderr).splitlines() if "done in" in line][-1]


def options(parser) -> None:
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)


def scenarios(stack, args) -> list[Scenario]:
    if not stack.database_url.startswith("postgresql"):
        sys.exit("bench_incidents: PostgreSQL only (--db postgres or a postgresql:// URL)")
    engine = sa.create_engine(database_url(stack.database_url))
    with engine.begin() as conn:
        for statement in ORG_SQL.split(";"):
            if statement.strip():
                conn.execute(sa.text(statement), {"users": args.users})
    print(f"generated {args.small} incidents in {grow(engine, 1, args.small):.1f}s",
          file=sys.stderr)
    workers, residents = stack.tmp / "workers.txt", stack.tmp / "residents.txt"
    write_tokens(stack, workers, [f"bench-worker-{g}" for g in range(1, 101)])
    write_tokens(stack, residents, [f"bench-resident-{g}" for g in range(1, 1001)])
    load = [Scenario("GET incidents?scope=assigned", "/api/v1/incidents?scope=assigned",
                     ME_LUA, env={"BENCH_TOKENS": str(workers)}),
            Scenario("GET incidents?scope=mine", "/api/v1/incidents?scope=mine", ME_LUA,
                     env={"BENCH_TOKENS": str(residents)})]
    small = run_scenarios(stack.url, load, args.connections, args.duration, args.threads,
                          args.rounds)
    print(f"\nAt {args.small:,} incidents:\n{format_table(small)}\n")
    seconds = grow(engine, args.small + 1, args.incidents)
    print(f"grew to {args.incidents:,} incidents in {seconds:.1f}s", file=sys.stderr)
    with engine.connect() as conn:
        open_count = conn.execute(sa.text(
            "SELECT count(*) FROM incidents WHERE sla_next_at IS NOT NULL")).scalar()
    # The generated rows start out behind: the first run settles them (not a figure).
    print(f"SLA job, first run over generated data: {sla_seconds(stack)}", file=sys.stderr)
    for label, minutes in (("a normal minute", 1), ("catching up after an hour down", 60)):
        with engine.begin() as conn:  # what falls due in `minutes` falls due now
            conn.execute(sa.text("UPDATE incidents SET sla_next_at = sla_next_at - "
                                 "make_interval(mins => :m) WHERE sla_next_at IS NOT NULL"),
                         {"m": minutes})
        print(f"SLA job over {open_count:,} open incidents, {label}: {sla_seconds(stack)}")
    # The SLA runs updated tens of thousands of rows and queued as many notifications: vacuum
    # now, or autovacuum does it during the list measurement below.
    vacuum(engine, "incidents, notifications, incident_events")
    print(f"\nAt {args.incidents:,} incidents (below):", file=sys.stderr)
    return load


if __name__ == "__main__":
    main("incidents", scenarios, __doc__.splitlines()[0], options)
