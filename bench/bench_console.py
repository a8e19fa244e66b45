"""Benchmark: the console's 数字看板 for the whole community at 1,000,000 incidents.

    .venv/bin/python bench/bench_console.py [--incidents 1000000] [--users 100000]
                                            [--samples 15] [--duration 15] [--connections 4]

PostgreSQL only: the data comes from bench_incidents.py's server-side generator (50
compounds with 500 buildings that have a position, 100 grids, `--users` residents and
`--incidents` incidents in community 1: a tenth open, filed in the last 24 hours, the rest
closed over the last year), added to the demo seed (the demo's staff member, 郑社工, signs
in to the console).

Printed, all from one run:
1. server time of `GET /console/?scope=community:1` (the default range, the last 7 days),
   of the same over the last 30 days, and of one compound's dashboard: the app in a fresh
   process (the gunicorn workers' code, the stack's database) called through the WSGI test
   client, so no network or queueing is counted; `--samples` calls of each, interleaved
   with `GET /healthz`, median, p90 and worst in ms (target: median under 500 ms for the
   community at 1,000,000), with the number of SQL statements of one page;
2. EXPLAIN (ANALYZE, BUFFERS) of the slowest statement of the community page;
3. the community page under wrk through gunicorn, as a ratio to `GET /healthz` in the same
   run (the page is heavy: keep `--connections` low, it defaults to 4 here).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from bench_incidents import generate_org, grow, in_app  # noqa: E402  (the incident generator)
from harness import Scenario  # noqa: E402
from harness import main as run_main  # noqa: E402

from config import database_url  # noqa: E402

# In a fresh process: sign the demo's staff member in (the development link), then time
# the dashboard pages and /healthz in turn; the statements of one community page with their
# durations, and EXPLAIN (ANALYZE, BUFFERS) of the slowest. Prints one BENCH line (JSON).
TIMING = r"""
import json, re, statistics, sys, time
from datetime import timedelta
import sqlalchemy as sa
from app import create_app, timeutil
from app.console import cookies, signin
from app.extensions import db
from app.models import Compound, Role, RoleGrant, ScopeKind
from app.services import users

samples = int(sys.argv[1])
app = create_app()
with app.app_context():
    staff = users.find_user("demo-staff")
    community = db.session.scalar(sa.select(RoleGrant.scope_id).where(
        RoleGrant.user_id == staff.id, RoleGrant.role == Role.STAFF,
        RoleGrant.scope_kind == ScopeKind.COMMUNITY))
    compound = db.session.scalar(sa.select(sa.func.min(Compound.id)).where(
        Compound.name.like("bench-compound-%")))
    link = signin.console_link(staff, "https://localhost")
    db.session.remove()
    engine = db.engine
client = app.test_client()  # https: the production session cookie is Secure
form = client.get(link.removeprefix("https://localhost"), base_url="https://localhost").text
query = link.split("?", 1)[1]
fields = dict(part.split("=", 1) for part in query.split("&"))
fields["csrf_token"] = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
signed_in = client.post("/console/login/link", data=fields, base_url="https://localhost")
assert signed_in.status_code == 302, (signed_in.status_code, signed_in.text[:300])
cookie = client.get_cookie(cookies.SESSION_COOKIE, path=cookies.PATH).value
month = (timeutil.today() - timedelta(days=29)).isoformat()
pages = {"community, 7 days": f"/console/?scope=community:{community}",
         "community, 30 days": f"/console/?scope=community:{community}&from={month}",
         "one compound, 7 days": f"/console/?scope=compound:{compound}"}

def get(path):
    started = time.perf_counter()
    res = client.get(path, base_url="https://localhost")
    seconds = time.perf_counter() - started
    assert res.status_code == 200, (path, res.status_code, res.text[:300])
    return seconds, res.text

for path in ["/healthz", *pages.values()]:  # first calls pay one-time costs
    get(path)
times = {name: [] for name in ["GET /healthz", *pages]}
for _ in range(samples):
    times["GET /healthz"].append(get("/healthz")[0])
    for name, path in pages.items():
        times[name].append(get(path)[0])

statements = []
def before(conn, cursor, statement, parameters, context, executemany):
    conn.info["bench_started"] = time.perf_counter()
def after(conn, cursor, statement, parameters, context, executemany):
    statements.append((time.perf_counter() - conn.info.pop("bench_started"), statement,
                       parameters))
sa.event.listen(engine, "before_cursor_execute", before)
sa.event.listen(engine, "after_cursor_execute", after)
_, html = get(pages["community, 7 days"])
sa.event.remove(engine, "before_cursor_execute", before)
sa.event.remove(engine, "after_cursor_execute", after)
slowest = max(statements, key=lambda s: s[0])
with engine.connect() as conn:
    plan = [r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + slowest[1],
                                                slowest[2])]
    conn.rollback()

def summary(values):
    ms = sorted(v * 1000 for v in values)
    return {"median_ms": statistics.median(ms), "p90_ms": ms[int(0.9 * (len(ms) - 1))],
            "max_ms": ms[-1]}
print("BENCH " + json.dumps({
    "pages": {name: summary(values) for name, values in times.items()},
    "statements": len(statements),
    "statement_ms": sorted(round(s[0] * 1000, 1) for s in statements)[::-1][:8],
    "slowest_sql": slowest[1], "slowest_ms": slowest[0] * 1000, "plan": plan,
    "total_cell": html.split('data-k="total">', 1)[1].split("<", 1)[0],
    "cookie": cookie, "community": community}))
"""

COOKIE_LUA = r"""
function init(args)
  wrk.headers["Cookie"] = "linli_console=" .. os.getenv("BENCH_COOKIE")
end
"""


def options(parser) -> None:
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=15,
                        help="timed calls of each page (interleaved with /healthz)")
    parser.set_defaults(connections=4)


def report(result: dict, incidents: int) -> str:
    lines = [f"Server time (in-process WSGI calls), {incidents:,} incidents, "
             f"{result['statements']} SQL statements per community page:",
             f"{'page':<24} {'median ms':>10} {'p90 ms':>8} {'max ms':>8}"]
    for name, row in result["pages"].items():
        lines.append(f"{name:<24} {row['median_ms']:>10.1f} {row['p90_ms']:>8.1f} "
                     f"{row['max_ms']:>8.1f}")
    lines += [f"received in the last 7 days (the page's figure): {result['total_cell']}",
              f"slowest statements of one community page (ms): {result['statement_ms']}",
              f"\nThe slowest ({result['slowest_ms']:.1f} ms):\n{result['slowest_sql']}\n",
              "EXPLAIN (ANALYZE, BUFFERS):", *result["plan"]]
    return "\n".join(lines)


def scenarios(stack, args) -> list[Scenario]:
    if not stack.database_url.startswith("postgresql"):
        sys.exit("bench_console: PostgreSQL only (--db postgres or a postgresql:// URL)")
    engine = sa.create_engine(database_url(stack.database_url))
    generate_org(engine, args.users)
    seconds = grow(engine, 1, args.incidents)
    print(f"generated {args.incidents:,} incidents in {seconds:.1f}s", file=sys.stderr)
    result = in_app(stack, TIMING, str(args.samples))
    print(report(result, args.incidents), flush=True)
    (stack.tmp / "console.json").write_text(json.dumps(result))
    return [Scenario("GET /console/ (community)",
                     f"/console/?scope=community:{result['community']}", COOKIE_LUA,
                     env={"BENCH_COOKIE": result["cookie"]})]


if __name__ == "__main__":
    run_main("console", scenarios, __doc__.splitlines()[0], options)
