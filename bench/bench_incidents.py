"""Benchmark: incident lists at 10,000 and at 1,000,000 incidents, and the SLA job.

    .venv/bin/python bench/bench_incidents.py [--incidents 1000000] [--users 100000]
                                              [--duration 15] [--connections 16]
                                              [--only lists|sla]

PostgreSQL only (the generator is server-side SQL). The generator adds 50 compounds with
500 buildings in 100 grids, one grid worker per grid, one secretary per compound (the SLA
ladder's breach step), `--users` residents, then incidents
spread over them: reporters at random, each building's grid worker as assignee, 10% open
(filed in the last 24 hours, on their SLA ladder), the rest closed over the last year.

Printed, all from one run:
1. `GET /api/v1/incidents?scope=assigned` (grid workers) and `?scope=mine` (residents)
   under load at 10,000 incidents, with the ratio to `GET /healthz`;
2. the same at `--incidents` (target: ratio >= 0.5; p99 within 1.5x of the p99 at 10,000);
3. the SLA job (`incident-sla`) over the open incidents at that size, each run in a fresh
   process whose clock is moved on (time-machine, from requirements-dev.txt) as if the
   scheduler had been down: the first sweep over the generated data (reminders/s; target
   >= 10,000/s), a normal minute (target < 0.3 s), catching up after an hour down (< 2 s)
   and after a day down (< 10 s), each with the incidents checked and the reminders queued
   by step; then `notify_many` of 2,000 recipients in one transaction (< 200 ms); then
   VACUUM ANALYZE, so that autovacuum does not clean up after the job during (2).

`--only sla` generates the data and runs (3) alone; `--only lists` runs (1) and (2) alone
and writes nothing after generating the data.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_auth import ME_LUA  # noqa: E402  (rotates over a file of tokens)
from harness import BIN, ROOT, Scenario, format_table, main, run_scenarios  # noqa: E402

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
  SELECT 'bench-secretary-' || g, '书记' || g, false, now() FROM generate_series(1, 50) g;
INSERT INTO role_grants (user_id, role, scope_kind, scope_id, created_at)
  SELECT u.id, 'secretary', 'compound', c.id, now() FROM generate_series(1, 50) g
  JOIN users u ON u.openid = 'bench-secretary-' || g
  JOIN compounds c ON c.name = 'bench-compound-' || g;
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
                       close_reason, follower_count, reopen_count, created_at,
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
       s.t, s.t, ic.public
FROM src s JOIN buildings bl ON bl.id = s.building_id
JOIN incident_categories ic ON ic.id = s.category_id
JOIN role_grants gw ON gw.role = 'grid_worker' AND gw.scope_kind = 'grid'
                   AND gw.scope_id = bl.grid_id
"""

# The open ones' SLA clocks: the next step is the reminder before their current deadline.
CLOCKS_SQL = """
INSERT INTO incident_sla_clocks (incident_id, next_at)
SELECT id, CASE WHEN status = 'dispatched' THEN respond_by ELSE resolve_by END
           - interval '15 minutes'
FROM incidents WHERE id > :after AND status IN ('dispatched', 'accepted')
"""


def generate_org(engine: sa.Engine, users: int) -> None:
    """The bench's grids, compounds, buildings, workers, secretaries and `users` residents."""
    with engine.begin() as conn:
        for statement in ORG_SQL.split(";"):
            if statement.strip():
                conn.execute(sa.text(statement), {"users": users})


def grow(engine: sa.Engine, first: int, last: int) -> float:
    started = time.perf_counter()
    with engine.begin() as conn:
        after = conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM incidents")).scalar()
        conn.execute(sa.text(INCIDENTS_SQL), {"first": first, "last": last})
        conn.execute(sa.text(CLOCKS_SQL), {"after": after})
    vacuum(engine, "incidents, incident_sla_clocks")
    return time.perf_counter() - started


def vacuum(engine: sa.Engine, tables: str) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"VACUUM ANALYZE {tables}"))


def write_tokens(stack, path: Path, openids: list[str]) -> None:
    path.write_text("\n".join(stack.login(openid) for openid in openids))


# Run in a fresh process (the app as the scheduler runs it), the clock at each given time in
# turn (it goes on ticking from there): every run but the last warms the process up, the
# last is measured. Prints the job's result and duration as JSON.
SLA_RUN = r"""
import json, sys, time
from datetime import datetime
import time_machine
from app import create_app
from app.jobs import get_job
from app.jobs.runner import run_job
app = create_app()
with app.app_context():
    for at in sys.argv[1:]:
        with time_machine.travel(datetime.fromisoformat(at), tick=True):
            started = time.perf_counter()
            result = run_job(get_job("incident-sla"), "bench")
            seconds = time.perf_counter() - started
print("BENCH " + json.dumps({"seconds": seconds, **result}))
"""

# notify_many of N residents in one transaction, three times with new keys (the median is
# the figure), then once more with the same keys (all deduplicated).
NOTIFY_MANY = r"""
import json, statistics, sys, time
import sqlalchemy as sa
from app import create_app
from app.extensions import db
from app.models import User
from app.services.notifications.outbox import notify_many
app = create_app()
count = int(sys.argv[1])
with app.app_context():
    users = list(db.session.scalars(sa.select(User.id).where(
        User.openid.like("bench-resident-%")).order_by(User.id).limit(count)))
    db.session.commit()
    payload = {"open": 3, "overdue": 1, "summary": "压测：楼道堆物、路灯不亮",
               "at": "2026-12-01T00:00:00+00:00"}
    times, queued = [], []
    for run in ("a", "b", "c", "b"):
        started = time.perf_counter()
        queued.append(notify_many("work_digest", [(uid, payload, f"bench-many:{run}:{uid}")
                                                  for uid in users]))
        db.session.commit()
        times.append(time.perf_counter() - started)
print("BENCH " + json.dumps({"users": len(users), "seconds": statistics.median(times[:3]),
                             "queued": queued[:3], "dedupe_seconds": times[3],
                             "dedupe_queued": queued[3]}))
"""


def in_app(stack, code: str, *args: str) -> dict:
    """Run `code` in a fresh Python process against the stack's database; its BENCH line."""
    out = subprocess.run([str(BIN / "python"), "-c", code, *args], cwd=ROOT,
                         env={**stack.env, "LOG_LEVEL": "WARNING"}, capture_output=True,
                         text=True)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"bench process failed:\n{out.stdout}\n{out.stderr[-3000:]}")
    return json.loads(line.split(" ", 1)[1])


STEPS_SQL = """
SELECT split_part(dedupe_key, ':', 4) AS step, count(*) FROM notifications
WHERE template_key = 'task_reminder' AND id > :after GROUP BY 1
"""


def sla_run(stack, engine: sa.Engine, at: datetime, warm: datetime) -> dict:
    """The SLA job at `at` (after a warm-up run at `warm`, when the job last ran); adds the
    reminders it queued by step."""
    with engine.connect() as conn:
        last = conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM notifications")).scalar()
    result = in_app(stack, SLA_RUN, warm.isoformat(), at.isoformat())
    with engine.connect() as conn:
        result["steps"] = dict(conn.execute(sa.text(STEPS_SQL), {"after": last}).all())
    return result


def describe(result: dict) -> str:
    steps = ", ".join(f"{step} {result['steps'].get(step, 0):,}"
                      for step in ("remind", "secretary", "staff"))
    return (f"{result['seconds']:.2f} s ({result['checked']:,} incidents checked, "
            f"{result['queued']:,} reminders: {steps})")


def sla_part(stack, engine: sa.Engine) -> list[str]:
    """The SLA job as the clock moves on: the lines to print."""
    with engine.connect() as conn:
        open_count = conn.execute(sa.text(
            "SELECT count(*) FROM incident_sla_clocks WHERE next_at IS NOT NULL")).scalar()
    lines = [f"SLA job over {open_count:,} open incidents:"]
    # 1. Now: everything that fell due since the generated incidents were filed.
    now = datetime.now(timezone.utc)
    first = sla_run(stack, engine, now, now - timedelta(days=2))
    rate = first["queued"] / first["seconds"]
    lines.append(f"  first sweep over the generated data: {describe(first)}, "
                 f"{rate:,.0f} reminders/s")
    # 2. A normal minute: the next minute in which a step falls due (nothing fell due
    # between the first sweep and its start, so it does what that minute's run does).
    with engine.connect() as conn:
        next_step = conn.execute(sa.text("SELECT min(next_at) FROM incident_sla_clocks")).scalar()
    minute = next_step.replace(tzinfo=timezone.utc) + timedelta(seconds=59)
    normal = sla_run(stack, engine, minute, minute - timedelta(minutes=1))
    lines.append(f"  a normal minute: {describe(normal)}")
    # 3. The scheduler down for an hour, then for a day: the clock moves on, nothing runs.
    hour = minute + timedelta(hours=1)
    lines.append(f"  catching up after an hour down: {describe(sla_run(stack, engine, hour, minute))}")
    day = hour + timedelta(days=1)
    lines.append(f"  catching up after a day down: {describe(sla_run(stack, engine, day, hour))}")
    many = in_app(stack, NOTIFY_MANY, "2000")
    lines.append(f"notify_many of {many['users']:,} recipients in one transaction: "
                 f"{many['seconds'] * 1000:.0f} ms (queued {many['queued']}); again with "
                 f"the same keys: {many['dedupe_seconds'] * 1000:.0f} ms (queued "
                 f"{many['dedupe_queued']})")
    return lines


def options(parser) -> None:
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--only", choices=("lists", "sla"), default=None,
                        help="only the list scenarios, or only the SLA job")


def scenarios(stack, args) -> list[Scenario]:
    if not stack.database_url.startswith("postgresql"):
        sys.exit("bench_incidents: PostgreSQL only (--db postgres or a postgresql:// URL)")
    engine = sa.create_engine(database_url(stack.database_url))
    generate_org(engine, args.users)
    print(f"generated {args.small} incidents in {grow(engine, 1, args.small):.1f}s",
          file=sys.stderr)
    load = []
    if args.only != "sla":
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
    if args.only != "lists":
        print("\n".join(sla_part(stack, engine)), flush=True)
        # The SLA runs updated about 100,000 rows and queued as many notifications: vacuum
        # now, or autovacuum does it during the list measurement below.
        vacuum(engine, "incidents, notifications, incident_events")
    if load:
        print(f"\nAt {args.incidents:,} incidents (below):", file=sys.stderr)
    return load


if __name__ == "__main__":
    main("incidents", scenarios, __doc__.splitlines()[0], options)
