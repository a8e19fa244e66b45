"""Benchmark: the wish wall and `GET /api/v1/party/me` under load, and the wish jobs.

    .venv/bin/python bench/bench_wishes.py [--users 100000] [--wishes 200000]
                                           [--members 1000] [--duration 15] ...

PostgreSQL only (the data is generated server-side with `INSERT ... SELECT
generate_series`, no ORM). One run:
1. the usual Stack (throwaway PostgreSQL, sandbox, app under gunicorn), migrated and seeded;
2. 50 compounds with 500 buildings in 100 grids, 100 households a building, `--users`
   residents (two to a household) with tokens `bench-token-<n>`; the first `--members` of
   them are also party members registered (双报到) in the community, with 12 verified
   service logs this year and three posts signed up for;
3. `--wishes` wishes over them (at the default 200,000): 50,000 claims that ran out
   (claimed 7 days ago), 50,000 claims on day 5 (waiting for the reminder), 50,000 published
   more than 30 days ago (due to expire), 20,000 published recently, and 30,000 completed,
   fulfilled or waiting for review; each with its keys (`wish_keys`, copied by
   `harness.wish_keys_sql()`) and its post, approve and claim events; then
   VACUUM ANALYZE and a CHECKPOINT, so no job pays for writing out the generator's pages;
4. the jobs, each timed by its own log line: `wish-claims` releasing the claims that ran
   out, `wish-claims` again once the day-5 reminders fall due, `wish-expiry` over the
   published wishes older than 30 days, `wish-unconfirmed`; then VACUUM ANALYZE;
5. /healthz, the wall (`GET /api/v1/wishes?status=published&compound_id=`, a random resident
   and compound each request), the default wall (`GET /api/v1/wishes`, the resident's own
   compound, every wall status) and `GET /api/v1/party/me` (a random member), in
   interleaved rounds; with EXPLAIN ANALYZE of the wall's page query for 100 compounds.

`--jobs-only` stops after step 4 (the figures of the jobs alone, nothing saved).

Targets: the wall and /party/me at >= 0.4 of /healthz; the release of the claims that ran
out under 2 s.
"""
from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import (  # noqa: E402
    BIN,
    RESULTS,
    ROOT,
    Scenario,
    Stack,
    ensure_wrk,
    format_table,
    git_revision,
    parse_args,
    run_scenarios,
    wish_keys_sql,
)

from config import database_url  # noqa: E402

NOW = "(now() at time zone 'utc')"  # the app stores naive UTC

# A random user among the first BENCH_USERS (bench-token-<n>), and for the wall a random
# compound id from BENCH_COMPOUNDS (comma-separated); BENCH_PATH is the path before it.
WALL_LUA = r"""
local users, compounds, path = 0, {}, ""
function init(args)
  users = tonumber(os.getenv("BENCH_USERS"))
  for id in string.gmatch(os.getenv("BENCH_COMPOUNDS") or "", "%d+") do
    compounds[#compounds + 1] = id
  end
  path = os.getenv("BENCH_PATH")
  math.randomseed(os.time() * 1000 + thread_id * 7919)
end
function request()
  local url = path
  if #compounds > 0 then url = url .. compounds[math.random(1, #compounds)] end
  return wrk.format("GET", url,
                    {Authorization = "Bearer bench-token-" .. math.random(1, users)}, nil)
end
"""

ORG_SQL = f"""
INSERT INTO grids (community_id, name)
  SELECT 1, 'bench-grid-' || g FROM generate_series(1, 100) g;
INSERT INTO compounds (community_id, name)
  SELECT 1, 'bench-compound-' || g FROM generate_series(1, 50) g;
INSERT INTO buildings (compound_id, grid_id, name, lat, lng)
  SELECT c.id, gr.id, g || '号楼', 38.60 + (g % 50) * 0.003, 111.50 + (g / 50) * 0.003
  FROM generate_series(1, 500) g
  JOIN compounds c ON c.name = 'bench-compound-' || ((g - 1) % 50 + 1)
  JOIN grids gr ON gr.name = 'bench-grid-' || ((g - 1) % 100 + 1);
INSERT INTO households (building_id, unit, room, head_name, created_at)
  SELECT b.id, '1', (100 + r)::text, '户主' || r, {NOW}
  FROM buildings b JOIN compounds c ON c.id = b.compound_id AND c.name LIKE 'bench-compound-%',
       generate_series(1, 100) r;
CREATE TEMP TABLE bench_households ON COMMIT DROP AS
  SELECT h.id, row_number() OVER (ORDER BY h.id) - 1 AS k FROM households h
  JOIN buildings b ON b.id = h.building_id JOIN compounds c ON c.id = b.compound_id
  WHERE c.name LIKE 'bench-compound-%';
INSERT INTO users (openid, nickname, mp_following, household_id, phone, created_at)
  SELECT 'bench-' || g, '居民' || g, false, h.id, '139' || lpad(g::text, 8, '0'), {NOW}
  FROM generate_series(1, CAST(:users AS int)) g
  JOIN bench_households h ON h.k = g % (SELECT count(*) FROM bench_households);
INSERT INTO role_grants (user_id, role, created_at)
  SELECT id, 'resident', {NOW} FROM users WHERE openid LIKE 'bench-%';
INSERT INTO household_memberships (user_id, household_id, status, verified_by, decided_at,
                                   created_at)
  SELECT id, household_id, 'verified', 'grid_worker', {NOW}, {NOW}
  FROM users WHERE openid LIKE 'bench-%';
INSERT INTO auth_tokens (user_id, token_hash, created_at, expires_at)
  SELECT id, encode(sha256(convert_to('bench-token-' || substr(openid, 7), 'UTF8')), 'hex'),
         {NOW}, {NOW} + interval '30 days'
  FROM users WHERE openid LIKE 'bench-%'
"""

# The first --members users: party members registered at the community, with verified logs
# spread over this year (12 each, 1.5 hours) and three upcoming posts signed up for.
PARTY_SQL = f"""
CREATE TEMP TABLE bench_members ON COMMIT DROP AS
  SELECT id, substr(openid, 7)::int AS n FROM users
  WHERE openid LIKE 'bench-%' AND substr(openid, 7)::int <= CAST(:members AS int);
INSERT INTO role_grants (user_id, role, created_at)
  SELECT id, 'party_member', {NOW} FROM bench_members;
INSERT INTO party_members (user_id, kind, registered_community_id, registered_at,
                           service_hours)
  SELECT id, 'in_service', 1, {NOW}, 18 FROM bench_members;
INSERT INTO party_registrations (user_id, community_id, employer, skills, status,
                                 decided_at, created_at)
  SELECT id, 1, '压测单位' || (n % 40), '维修', 'confirmed', {NOW}, {NOW} FROM bench_members;
INSERT INTO service_posts (community_id, title, category, starts_at, ends_at, place,
                           headcount, signup_count, created_by_id, created_at)
  SELECT 1, '压测岗位' || g, 'governance', {NOW} - (g % 300) * interval '1 day',
         {NOW} - (g % 300) * interval '1 day' + interval '2 hours', '社区服务站', 1000000, 0,
         (SELECT min(id) FROM bench_members), {NOW}
  FROM generate_series(1, 300) g;
INSERT INTO service_posts (community_id, title, category, starts_at, ends_at, place,
                           headcount, signup_count, created_by_id, created_at)
  SELECT 1, '压测未来岗位' || g, 'culture', {NOW} + g * interval '1 day',
         {NOW} + g * interval '1 day' + interval '3 hours', '社区广场', 1000000, 0,
         (SELECT min(id) FROM bench_members), {NOW}
  FROM generate_series(1, 10) g;
CREATE TEMP TABLE bench_posts ON COMMIT DROP AS
  SELECT id, starts_at, row_number() OVER (ORDER BY id) AS k, starts_at > {NOW} AS upcoming
  FROM service_posts WHERE title LIKE '压测%';
INSERT INTO service_logs (member_id, community_id, post_id, source, check_in_at,
                          check_out_at, hours, flagged, verified_at, created_at)
  SELECT m.id, 1, p.id, 'checkin', p.starts_at, p.starts_at + interval '90 minutes', 1.5,
         false, p.starts_at + interval '1 day', p.starts_at
  FROM bench_members m CROSS JOIN generate_series(1, 12) j
  JOIN bench_posts p ON NOT p.upcoming AND p.k = 1 + (m.n * 7 + j * 23) % 300
  WHERE p.starts_at >= date_trunc('year', {NOW});
INSERT INTO service_signups (post_id, member_id, created_at)
  SELECT p.id, m.id, {NOW} FROM bench_members m
  JOIN bench_posts p ON p.upcoming AND (p.k + m.n) % 10 < 3;
UPDATE service_posts s SET signup_count = (SELECT count(*) FROM service_signups x
                                           WHERE x.post_id = s.id)
  WHERE s.title LIKE '压测未来岗位%'
"""

# Five parts by g % 20: 0 claims that ran out (25%), 1 claims on day 5 (25%; their
# reminder falls due once the benchmark moves due_at back a day), 2 published over 30 days
# ago (25%), 3 published recently (10%), 4 completed / fulfilled / pending review (15%).
# Requester and claimer are residents picked by multiplicative hashing; each wish is its
# requester's household's.
WISHES_SQL = f"""
WITH u AS (SELECT min(id) AS lo, count(*) AS n FROM users WHERE openid LIKE 'bench-%'),
     src AS (
       SELECT g, CASE WHEN g % 20 < 5 THEN 0 WHEN g % 20 < 10 THEN 1 WHEN g % 20 < 15 THEN 2
                      WHEN g % 20 < 17 THEN 3 ELSE 4 END AS part, u.lo + (g * 7919) % u.n AS requester_id,
              u.lo + (g * 104729 + 17) % u.n AS claimer_id,
              {NOW} - (g % 600) * interval '1 minute' AS t
       FROM generate_series(1, CAST(:wishes AS bigint)) g, u)
INSERT INTO wishes (household_id, building_id, grid_id, compound_id, community_id,
                    requester_id, poster_id, on_behalf, consent_recorded, title, description,
                    category, photo_ids, points, status, flagged, check_method,
                    claimer_id, claim_count, claimed_at, claim_expires_at, published_at,
                    fulfilled_at, completed_at, closed_at, due_at, created_at, updated_at)
SELECT h.id, b.id, b.grid_id, b.compound_id, 1, s.requester_id, s.requester_id, false, false,
       '压测心愿' || s.g, '压测心愿的描述，帮忙买菜送上楼 ' || s.g,
       (ARRAY['supplies', 'companionship', 'repair', 'errand', 'tutoring', 'other'])
         [1 + s.g % 6],
       CASE WHEN s.g % 2 = 0 THEN json_build_array(s.g) ELSE '[]'::json END, 20,
       CASE s.part WHEN 0 THEN 'claimed' WHEN 1 THEN 'claimed' WHEN 2 THEN 'published'
                   WHEN 3 THEN 'published'
                   ELSE (ARRAY['completed', 'completed', 'fulfilled', 'pending_review'])
                          [1 + (s.g / 20) % 4] END,
       false, CASE WHEN s.part = 4 AND (s.g / 20) % 4 = 3 THEN NULL ELSE 'phone' END,
       CASE WHEN s.part IN (0, 1) OR (s.part = 4 AND (s.g / 20) % 4 < 3) THEN s.claimer_id END,
       CASE WHEN s.part IN (0, 1) OR (s.part = 4 AND (s.g / 20) % 4 < 3) THEN 1 ELSE 0 END,
       CASE s.part WHEN 0 THEN s.t - interval '7 days 1 hour'
                   WHEN 1 THEN s.t - interval '5 days 1 hour'
                   WHEN 4 THEN CASE WHEN (s.g / 20) % 4 < 3 THEN s.t - interval '20 days' END
       END,
       CASE s.part WHEN 0 THEN s.t - interval '1 hour' WHEN 1 THEN s.t + interval '1 day 23 hours'
       END,
       CASE s.part WHEN 2 THEN s.t - interval '31 days' WHEN 3 THEN s.t - interval '2 days'
                   WHEN 4 THEN CASE WHEN (s.g / 20) % 4 < 3 THEN s.t - interval '21 days' END
                   ELSE s.t - interval '40 days' END,
       CASE WHEN s.part = 4 AND (s.g / 20) % 4 < 3 THEN s.t - interval '4 days' END,
       CASE WHEN s.part = 4 AND (s.g / 20) % 4 < 2 THEN s.t - interval '3 days' END,
       CASE WHEN s.part = 4 AND (s.g / 20) % 4 < 2 THEN s.t - interval '3 days' END,
       CASE s.part WHEN 0 THEN s.t - interval '1 hour'
                   WHEN 1 THEN s.t - interval '1 hour' + interval '1 day'
                   WHEN 2 THEN s.t - interval '1 day' WHEN 3 THEN s.t + interval '28 days'
                   ELSE CASE (s.g / 20) % 4 WHEN 2 THEN s.t - interval '1 day' END END,
       s.t - interval '45 days', s.t
FROM src s JOIN users r ON r.id = s.requester_id JOIN households h ON h.id = r.household_id
JOIN buildings b ON b.id = h.building_id;
""" + wish_keys_sql()

# What a real wish has in its timeline before the job: post, approve, claim.
EVENTS_SQL = """
INSERT INTO wish_events (wish_id, actor_id, action, from_status, to_status, note, photo_ids,
                         created_at)
SELECT w.id, w.requester_id, a.action, a.from_status, a.to_status, NULL, '[]'::json,
       w.created_at
FROM wishes w CROSS JOIN (VALUES ('post', NULL, 'pending_review'),
                                 ('approve', 'pending_review', 'published'),
                                 ('claim', 'published', 'claimed')) a(action, from_status,
                                                                      to_status)
WHERE w.title LIKE '压测心愿%'
"""


def options(parser) -> None:
    parser.add_argument("--users", type=int, default=100_000, help="residents")
    parser.add_argument("--wishes", type=int, default=200_000)
    parser.add_argument("--members", type=int, default=1_000,
                        help="party members among the residents (GET /party/me)")
    parser.add_argument("--jobs-only", action="store_true",
                        help="stop after step 4: the data and the jobs, no load")


def run_sql(engine: sa.Engine, script: str, params: dict) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL work_mem = '256MB'"))
        for statement in script.split(";\n"):
            if statement.strip():
                conn.execute(sa.text(statement), params)


def vacuum(engine: sa.Engine) -> None:
    """VACUUM ANALYZE, then a CHECKPOINT: the generator's dirty pages are written out before
    anything is timed, so a job does not pay for the set-up's checkpoint."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
        conn.execute(sa.text("CHECKPOINT"))


def run_job(stack: Stack, job_id: str) -> dict:
    """`flask jobs run-once <job>`; its own log line: seconds and counts."""
    out = subprocess.run([str(BIN / "flask"), "jobs", "run-once", job_id], cwd=ROOT,
                         env={**stack.env, "LOG_LEVEL": "INFO"}, capture_output=True,
                         text=True, check=True)
    line = [x for x in (out.stdout + out.stderr).splitlines() if "done in" in x][-1]
    found = re.search(r"done in ([\d.]+)s: (.*)$", line)
    return {"job": job_id, "seconds": float(found.group(1)), "counts": found.group(2)}


def counts(engine: sa.Engine) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text(
            "SELECT status, count(*) FROM wishes GROUP BY status ORDER BY status")).all())


def wall_costs(engine: sa.Engine, compounds: list[int]) -> dict:
    """Server-side cost of the wall's page query (the app's own statement: names as scalar
    subqueries, 21 rows) for each compound, from EXPLAIN ANALYZE (planning + execution)."""
    from app.services.wishes import queries

    statement = queries._list_statement(("wall",), ("status",), False, False, 20)
    times, plans = [], set()
    with engine.connect() as conn:
        for compound in compounds:
            sql = str(statement.params(wall=compound, status="published").compile(
                dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
            doc = conn.scalar(sa.text("EXPLAIN (ANALYZE, FORMAT JSON) " + sql))[0]
            times.append(doc["Execution Time"] + doc["Planning Time"])
            node = doc["Plan"]
            while node.get("Plans") and "Index Name" not in node:  # the rows' own scan
                node = next((plan for plan in node["Plans"] if plan.get(
                    "Parent Relationship") not in ("InitPlan", "SubPlan")), node["Plans"][0])
            plans.add(node["Node Type"] + f" ({node.get('Index Name')})")
    return {"plan": ", ".join(sorted(plans)), "median_ms": statistics.median(times),
            "max_ms": max(times)}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], options)
    if args.db == "sqlite" or args.db.startswith("sqlite"):
        sys.exit("bench_wishes: PostgreSQL only (the data is generated with generate_series)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ensure_wrk()
    meta = {"bench": "wishes", "revision": git_revision(), **vars(args), "db": "postgres",
            "cpus": os.cpu_count(), "load_before": round(os.getloadavg()[0], 2)}
    print(" ".join(f"{k}={v}" for k, v in meta.items()), file=sys.stderr)
    with Stack(args.db, args.workers, args.worker_class) as stack:
        engine = sa.create_engine(database_url(stack.database_url))
        started = time.monotonic()
        run_sql(engine, ORG_SQL, {"users": args.users})
        run_sql(engine, PARTY_SQL, {"members": args.members})
        run_sql(engine, WISHES_SQL, {"wishes": args.wishes})
        run_sql(engine, EVENTS_SQL, {})
        vacuum(engine)
        before = counts(engine)
        print(f"generated in {time.monotonic() - started:.0f}s: {before}", file=sys.stderr)
        jobs = [run_job(stack, "wish-claims")]  # releases the claims that ran out
        with engine.begin() as conn:  # the day-5 reminders fall due
            conn.execute(sa.text(f"UPDATE wishes SET due_at = due_at - interval '1 day' "
                                 f"WHERE status = 'claimed' AND due_at > {NOW}"))
        jobs += [run_job(stack, "wish-claims"), run_job(stack, "wish-expiry"),
                 run_job(stack, "wish-unconfirmed")]
        for job in jobs:
            print(f"  {job['job']}: {job['seconds']:.2f}s {job['counts']}", file=sys.stderr)
        if args.jobs_only:
            engine.dispose()
            for job in jobs:
                print(f"{job['job']:<18} {job['seconds']:6.2f} s  {job['counts']}")
            return
        vacuum(engine)
        after = counts(engine)
        with engine.connect() as conn:
            compounds = list(conn.scalars(sa.text(
                "SELECT id FROM compounds WHERE name LIKE 'bench-compound-%' ORDER BY id")))
        costs = wall_costs(engine, compounds)
        env = {"BENCH_USERS": str(args.users)}
        scenarios = [
            Scenario("GET wishes?status=published", "/api/v1/wishes", WALL_LUA,
                     env={**env, "BENCH_COMPOUNDS": ",".join(map(str, compounds)),
                          "BENCH_PATH": "/api/v1/wishes?status=published&compound_id="}),
            Scenario("GET wishes (default wall)", "/api/v1/wishes", WALL_LUA,
                     env={**env, "BENCH_PATH": "/api/v1/wishes"}),
            Scenario("GET /api/v1/party/me", "/api/v1/party/me", WALL_LUA,
                     env={"BENCH_USERS": str(args.members), "BENCH_PATH": "/api/v1/party/me"}),
        ]
        results = run_scenarios(stack.url, scenarios, args.connections, args.duration,
                                args.threads, args.rounds)
        engine.dispose()
    print(f"\n{sum(after.values()):,} wishes, {args.users:,} residents, "
          f"{args.members:,} party members; before the jobs {before}, after {after}")
    print(format_table(results))
    print(f"  wall page query: {costs['plan']}, median {costs['median_ms']:.3f} ms, "
          f"max {costs['max_ms']:.3f} ms (planning + execution)")
    for job in jobs:
        print(f"{job['job']:<18} {job['seconds']:6.2f} s  {job['counts']}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"wishes-postgres-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({**meta, "before": before, "after": after, "jobs": jobs,
                               "wall_query": costs, "results": results}, indent=2))
    print(f"saved {out.relative_to(ROOT)}", file=sys.stderr)
    if any(r["errors"] for r in results):
        sys.exit("bench: some requests failed; these figures are not valid")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("bench: interrupted; every process it started has been stopped")
