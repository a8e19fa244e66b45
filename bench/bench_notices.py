"""Benchmark: the Monday notice job over 大同's 1,724 compounds, and the due-visits list.

    .venv/bin/python bench/bench_notices.py [--compounds 1724] [--incidents 1000000]
                                            [--wishes 200000] [--visits 300000] ...

PostgreSQL only (the data is generated server-side with `INSERT ... SELECT
generate_series`). One run:
1. the usual Stack (throwaway PostgreSQL, sandbox, the app under gunicorn), migrated and
   seeded; --compounds compounds in communities of ten, each with a secretary, one grid
   (and its grid worker), two buildings of --households households, a third of them
   tagged (独居老人 or 困难家庭);
2. a tenth of the incidents (each with its report event), wishes and visits, spread over
   the last ten weeks (a tenth of the incidents still open); the `notice-drafts` job in a
   fresh process (the scheduler's), timed: total and per compound;
3. the other nine tenths, the notices deleted, the job again: the per-compound time should
   stay flat while the data grows tenfold (target: under 60 s in all). With
   `--growth history` (the default) the nine tenths are the 90 weeks before, closed: the
   tables grow tenfold while a week's reports and the open backlog stay what they were, as
   when a community keeps using Linli for two years. `--growth denser` puts them in the
   same ten weeks (a tenth open), so the measured week itself holds ten times the rows and
   no index can keep the job flat: it measures the cost per row of the week;
4. `GET /api/v1/visits/due?scope=mine` as the first compound's grid worker (its ~27 tagged
   households and their visits) under wrk, with the /healthz baseline in the same run, as
   a ratio to it (target >= 0.4).
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import BIN, ROOT, Scenario, main, wish_keys_sql  # noqa: E402

from config import database_url  # noqa: E402

NOW = "(now() at time zone 'utc')"  # the app stores naive UTC
WEEKS = 10

ORG_SQL = f"""
INSERT INTO communities (street_id, name)
  SELECT 1, 'bench-community-' || g FROM generate_series(1, CAST(:communities AS int)) g;
INSERT INTO compounds (community_id, name)
  SELECT c.id, 'bench-compound-' || g FROM generate_series(1, CAST(:compounds AS int)) g
  JOIN communities c ON c.name = 'bench-community-' || ((g - 1) / 10 + 1);
INSERT INTO grids (community_id, name)
  SELECT community_id, 'bench-grid-' || id FROM compounds WHERE name LIKE 'bench-compound-%';
INSERT INTO buildings (compound_id, grid_id, name)
  SELECT c.id, gr.id, b || '号楼' FROM compounds c
  JOIN grids gr ON gr.name = 'bench-grid-' || c.id, generate_series(1, 2) b
  WHERE c.name LIKE 'bench-compound-%';
INSERT INTO households (building_id, unit, room, created_at)
  SELECT b.id, '1', CAST(100 + h AS text), {NOW} - interval '200 days'
  FROM buildings b JOIN compounds c ON c.id = b.compound_id AND c.name LIKE 'bench-%',
       generate_series(1, CAST(:households AS int)) h;
INSERT INTO household_tags (household_id, tag)
  SELECT h.id, CASE WHEN h.id % 2 = 0 THEN 'living_alone' ELSE 'hardship' END
  FROM households h JOIN buildings b ON b.id = h.building_id
  JOIN compounds c ON c.id = b.compound_id AND c.name LIKE 'bench-%' WHERE h.id % 3 = 0;
INSERT INTO users (openid, nickname, mp_following, created_at)
  SELECT 'bench-sec-' || id, '书记' || id, false, {NOW} FROM compounds
  WHERE name LIKE 'bench-compound-%';
INSERT INTO role_grants (user_id, role, scope_kind, scope_id, created_at)
  SELECT u.id, 'secretary', 'compound', c.id, {NOW} FROM compounds c
  JOIN users u ON u.openid = 'bench-sec-' || c.id;
INSERT INTO users (openid, nickname, mp_following, created_at)
  SELECT 'bench-gw-' || id, '网格员' || id, false, {NOW} FROM grids WHERE name LIKE 'bench-grid-%';
INSERT INTO role_grants (user_id, role, scope_kind, scope_id, created_at)
  SELECT u.id, 'grid_worker', 'grid', g.id, {NOW} FROM grids g
  JOIN users u ON u.openid = 'bench-gw-' || g.id;
INSERT INTO auth_tokens (user_id, token_hash, created_at, expires_at)
  SELECT u.id, encode(sha256(convert_to('bench-token-gw', 'UTF8')), 'hex'), {NOW},
         {NOW} + interval '30 days'
  FROM users u WHERE u.openid = (SELECT 'bench-gw-' || min(id) FROM grids
                                 WHERE name LIKE 'bench-grid-%');
"""

# Rows g in [first, last], spread over the bench buildings and the last WEEKS weeks.
BUILDINGS = """b AS (SELECT array_agg(b.id ORDER BY b.id) AS ids FROM buildings b
           JOIN compounds c ON c.id = b.compound_id WHERE c.name LIKE 'bench-compound-%')"""
# :skip weeks back, then over :span weeks; :open_every-th row still open (0: none).
SPREAD = (f"{NOW} - CAST(:skip AS int) * interval '7 days'"
          " - (g % (CAST(:span AS int) * 7 * 1440)) * interval '1 minute'")

INCIDENTS_SQL = f"""
WITH {BUILDINGS},
     k AS (SELECT min(id) AS id FROM incident_categories),
     src AS (SELECT g, b.ids[1 + (g * 7919) % array_length(b.ids, 1)] AS building_id,
                    (CAST(:open_every AS int) > 0 AND g % GREATEST(CAST(:open_every AS int), 1) = 0)
                      AS is_open, {SPREAD} AS t
             FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) g, b)
INSERT INTO incidents (reporter_id, category_id, description, anonymous, building_id,
                       compound_id, grid_id, community_id, status, respond_by, resolve_by,
                       responded_at, resolved_at, closed_at, follower_count, reopen_count,
                       created_at, updated_at, public)
SELECT sec.user_id, k.id, '压测随手拍 ' || s.g, false, bl.id, bl.compound_id, bl.grid_id,
       co.community_id, CASE WHEN s.is_open THEN 'accepted' ELSE 'closed' END,
       s.t + interval '1 hour', s.t + interval '24 hours', s.t + interval '20 minutes',
       CASE WHEN s.is_open THEN NULL ELSE s.t + interval '5 hours' END,
       CASE WHEN s.is_open THEN NULL ELSE s.t + interval '6 hours' END, 0, 0, s.t, s.t, true
FROM src s JOIN buildings bl ON bl.id = s.building_id
JOIN compounds co ON co.id = bl.compound_id
JOIN role_grants sec ON sec.role = 'secretary' AND sec.scope_id = bl.compound_id, k;
INSERT INTO incident_events (incident_id, actor_id, action, photo_ids, created_at)
  SELECT id, reporter_id, CASE WHEN id % 50 = 0 THEN 'escalate' ELSE 'report' END, '[]',
         created_at FROM incidents WHERE id > :after;
"""

WISHES_SQL = f"""
WITH {BUILDINGS},
     src AS (SELECT g, b.ids[1 + (g * 104729) % array_length(b.ids, 1)] AS building_id,
                    {SPREAD} AS t
             FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) g, b)
INSERT INTO wishes (household_id, building_id, grid_id, compound_id, community_id, poster_id,
                    on_behalf, consent_recorded, title, description, category, photo_ids,
                    points, status, flagged, claim_count, claimed_at, completed_at,
                    created_at, updated_at)
SELECT (SELECT min(h.id) FROM households h WHERE h.building_id = bl.id), bl.id, bl.grid_id,
       bl.compound_id, co.community_id, sec.user_id, true, true, '压测心愿', '压测', 'supplies',
       '[]', 20, CASE WHEN s.g % 4 = 0 THEN 'completed' ELSE 'published' END, false, 0,
       CASE WHEN s.g % 2 = 0 THEN s.t + interval '1 day' END,
       CASE WHEN s.g % 4 = 0 THEN s.t + interval '3 days' END, s.t, s.t
FROM src s JOIN buildings bl ON bl.id = s.building_id
JOIN compounds co ON co.id = bl.compound_id
JOIN role_grants sec ON sec.role = 'secretary' AND sec.scope_id = bl.compound_id;
""" + wish_keys_sql() + ";\n"

VISITS_SQL = f"""
WITH t AS (SELECT array_agg(ht.household_id ORDER BY ht.household_id) AS ids
           FROM household_tags ht JOIN households h ON h.id = ht.household_id
           JOIN buildings b ON b.id = h.building_id
           JOIN compounds c ON c.id = b.compound_id AND c.name LIKE 'bench-%'),
     src AS (SELECT g, t.ids[1 + (g * 15485863) % array_length(t.ids, 1)] AS household_id,
                    {SPREAD} AS at
             FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) g, t)
INSERT INTO visits (subject, household_id, compound_id, grid_id, visitor_id, visitor_role,
                    kind, situation, photo_ids, visited_at, created_at)
SELECT 'household', s.household_id, bl.compound_id, bl.grid_id,
       CASE WHEN s.g % 5 = 0 THEN sec.user_id ELSE gw.user_id END,
       CASE WHEN s.g % 5 = 0 THEN 'secretary' ELSE 'grid_worker' END,
       'home', '压测走访', '[]', s.at, s.at
FROM src s JOIN households h ON h.id = s.household_id
JOIN buildings bl ON bl.id = h.building_id
JOIN role_grants sec ON sec.role = 'secretary' AND sec.scope_id = bl.compound_id
JOIN role_grants gw ON gw.role = 'grid_worker' AND gw.scope_id = bl.grid_id;
"""

DRAFTS_RUN = r"""
import json, time
from app import create_app
from app.jobs import get_job
from app.jobs.runner import run_job
app = create_app()
with app.app_context():
    started = time.perf_counter()
    result = run_job(get_job("notice-drafts"), "bench")
    seconds = time.perf_counter() - started
print("BENCH " + json.dumps({"seconds": seconds, **result}))
"""


def options(parser) -> None:
    parser.add_argument("--compounds", type=int, default=1724)
    parser.add_argument("--households", type=int, default=40, help="per building (two each)")
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--wishes", type=int, default=200_000)
    parser.add_argument("--visits", type=int, default=300_000)
    parser.add_argument("--growth", choices=("history", "denser"), default="history",
                        help="where the other nine tenths go: the 90 weeks before (closed), "
                             "or the same ten weeks")


def spread(first: float, args) -> dict:
    """Where the rows of a step go: the first tenth over the last ten weeks (a tenth of its
    incidents open); the rest, with --growth history, over the 90 weeks before, closed."""
    if first == 0 or args.growth == "denser":
        return {"skip": 0, "span": WEEKS, "open_every": 10}
    return {"skip": WEEKS, "span": 9 * WEEKS, "open_every": 0}


def grow(engine: sa.Engine, first: float, last: float, args) -> float:
    """Rows from fraction `first` to `last` of each table's target; seconds taken."""
    started = time.perf_counter()
    where = spread(first, args)
    with engine.begin() as conn:
        for sql, total in ((INCIDENTS_SQL, args.incidents), (WISHES_SQL, args.wishes),
                           (VISITS_SQL, args.visits)):
            after = conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM incidents")).scalar()
            for statement in sql.split(";\n"):
                if statement.strip():
                    conn.execute(sa.text(statement), {"first": int(total * first) + 1,
                                                      "last": int(total * last),
                                                      "after": after, **where})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE incidents, incident_events, wishes, wish_keys, visits"))
    return time.perf_counter() - started


def drafts(stack, engine: sa.Engine) -> dict:
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM notices"))
        conn.execute(sa.text("DELETE FROM notifications WHERE template_key = 'notice_task'"))
    out = subprocess.run([str(BIN / "python"), "-c", DRAFTS_RUN], cwd=ROOT,
                         env={**stack.env, "LOG_LEVEL": "WARNING"}, capture_output=True,
                         text=True)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"bench process failed:\n{out.stdout}\n{out.stderr[-3000:]}")
    return json.loads(line.split(" ", 1)[1])


def counts(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return ", ".join(f"{conn.execute(sa.text(f'SELECT count(*) FROM {t}')).scalar():,} {t}"
                         for t in ("incidents", "wishes", "visits"))


def scenarios(stack, args):
    engine = sa.create_engine(database_url(stack.database_url))
    with engine.begin() as conn:
        for statement in ORG_SQL.split(";\n"):
            if statement.strip():
                conn.execute(sa.text(statement), {"compounds": args.compounds,
                                                  "communities": (args.compounds + 9) // 10,
                                                  "households": args.households})
    lines, runs = [], []
    for first, last in ((0.0, 0.1), (0.1, 1.0)):
        seconds = grow(engine, first, last, args)
        result = drafts(stack, engine)
        runs.append(result)
        per = result["seconds"] / max(result["drafted"], 1) * 1000
        lines.append(f"  {counts(engine)} (generated in {seconds:.0f} s): drafted "
                     f"{result['drafted']:,} notices in {result['seconds']:.2f} s, "
                     f"{per:.2f} ms per compound, {result['queued']:,} secretaries told")
    engine.dispose()
    ratio = (runs[1]["seconds"] / runs[1]["drafted"]) / (runs[0]["seconds"] / runs[0]["drafted"])
    print("notice-drafts (Monday job):", *lines,
          f"  per-compound time at 10x the data: x{ratio:.2f}", sep="\n", flush=True)
    return [Scenario("GET /visits/due?scope=mine", "/api/v1/visits/due?scope=mine",
                     'function request() return wrk.format("GET", nil, '
                     '{Authorization = "Bearer bench-token-gw"}, nil) end')]


if __name__ == "__main__":
    main("notices", scenarios, __doc__.splitlines()[0], options)
