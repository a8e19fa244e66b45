"""Benchmark: a big console export as a job (app.services.excel.exports) on PostgreSQL.

    .venv/bin/python bench/bench_export.py [--rows 100000] [--kind households|incidents]
                                           [--db postgres|<DATABASE_URL>]

One run: a throwaway PostgreSQL (scripts/pg-tmp) migrated and seeded with the demo
(`flask seed-demo`); --rows households (each with a head, a phone and, for a third, a care
tag) or incidents (each with its report event) added to 示范社区 server-side with
`generate_series`; then, in this process, the export queued as the community's staff
member (demo-staff) and the `console-exports` job run once, timed: the whole job (read
every row through the kind, write the .xlsx in openpyxl's write-only mode, store it, queue
the inbox item) and its rows per second. Target: 100,000 rows under 60 s. The figures go
to bench/results/export-<kind>-<rows>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

HOUSEHOLDS_SQL = """
WITH b AS (SELECT array_agg(b.id ORDER BY b.id) AS ids FROM buildings b
           JOIN compounds c ON c.id = b.compound_id
           WHERE c.community_id = (SELECT id FROM communities ORDER BY id LIMIT 1))
INSERT INTO households (building_id, unit, room, head_name, head_phone, created_at, version)
SELECT b.ids[1 + g % array_length(b.ids, 1)], 'B' || (g % 9), 'R' || g, '压测户主' || g,
       '138' || lpad(CAST(g % 100000000 AS text), 8, '0'), now() at time zone 'utc', 1
FROM generate_series(1, CAST(:rows AS int)) g, b;
INSERT INTO household_tags (household_id, tag)
  SELECT id, CASE WHEN id % 2 = 0 THEN 'living_alone' ELSE 'hardship' END FROM households
  WHERE room LIKE 'R%' AND id % 3 = 0;
"""

INCIDENTS_SQL = """
WITH b AS (SELECT array_agg(b.id ORDER BY b.id) AS ids FROM buildings b
           JOIN compounds c ON c.id = b.compound_id
           WHERE c.community_id = (SELECT id FROM communities ORDER BY id LIMIT 1)),
     k AS (SELECT id FROM incident_categories ORDER BY id LIMIT 1),
     r AS (SELECT id FROM users WHERE openid = 'demo-resident'),
     src AS (SELECT g, b.ids[1 + g % array_length(b.ids, 1)] AS building_id,
                    (now() at time zone 'utc') - (g % 5000) * interval '1 minute' AS t
             FROM generate_series(1, CAST(:rows AS int)) g, b)
INSERT INTO incidents (reporter_id, category_id, description, anonymous, building_id,
                       compound_id, grid_id, community_id, status, respond_by, resolve_by,
                       responded_at, resolved_at, closed_at, follower_count, reopen_count,
                       created_at, updated_at, public)
SELECT r.id, k.id, '压测随手拍 ' || s.g, false, bl.id, bl.compound_id, bl.grid_id,
       co.community_id, 'closed', s.t + interval '1 hour', s.t + interval '24 hours',
       s.t + interval '20 minutes', s.t + interval '5 hours', s.t + interval '6 hours', 0, 0,
       s.t, s.t, true
FROM src s JOIN buildings bl ON bl.id = s.building_id
JOIN compounds co ON co.id = bl.compound_id, k, r;
INSERT INTO incident_events (incident_id, actor_id, action, photo_ids, created_at)
  SELECT id, reporter_id, 'report', '[]', created_at FROM incidents;
"""


def pg_start() -> tuple[str, str]:
    out = subprocess.run([str(ROOT / "scripts" / "pg-tmp"), "start"], check=True,
                         capture_output=True, text=True).stdout
    found = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())
    return found["PG_TMP_URL"], found["PG_TMP_DIR"]


def flask(env: dict, *args: str) -> None:
    out = subprocess.run([str(BIN / "flask"), *args], cwd=ROOT, env=env, capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{out.stdout}{out.stderr}")


def measure(args) -> dict:
    import sqlalchemy as sa

    from app import create_app
    from app.extensions import db
    from app.models import ExportJob, User
    from app.services.excel import exports

    app = create_app()
    with app.app_context():
        sql = HOUSEHOLDS_SQL if args.kind == "households" else INCIDENTS_SQL
        started = time.perf_counter()
        with db.engine.begin() as conn:
            for statement in filter(str.strip, sql.split(";")):
                conn.execute(sa.text(statement), {"rows": args.rows})
            conn.execute(sa.text("ANALYZE"))
        generated = time.perf_counter() - started
        staff = db.session.scalar(sa.select(User).where(User.openid == "demo-staff"))
        job = exports.queue(staff, args.kind, {})
        started = time.perf_counter()
        outcome = exports.run_pending(limit=1)
        seconds = time.perf_counter() - started
        row = db.session.get(ExportJob, job.id)
        size = (Path(app.config["UPLOAD_DIR"]) / row.storage_key).stat().st_size
        return {"kind": args.kind, "rows": row.row_count, "seconds": round(seconds, 2),
                "rows_per_second": round(row.row_count / seconds), "file_bytes": size,
                "generate_seconds": round(generated, 1), "outcome": outcome,
                "target_seconds": 60 * args.rows / 100000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100000)
    parser.add_argument("--kind", choices=("households", "incidents"), default="households")
    parser.add_argument("--db", default="postgres")
    args = parser.parse_args()
    pg_dir = None
    url = args.db
    if args.db == "postgres":
        url, pg_dir = pg_start()
    tmp = Path(tempfile.mkdtemp(prefix="linli-bench-export."))
    try:
        env = {**os.environ, "FLASK_APP": "wsgi", "LINLI_ENV": "production",
               "DATABASE_URL": url, "SECRET_KEY": secrets.token_hex(16),
               "WECHAT_API_BASE": "http://127.0.0.1:9/", "UPLOAD_DIR": str(tmp / "uploads"),
               "RATELIMIT_ENABLED": "false", "LOG_LEVEL": "WARNING"}
        flask(env, "db", "upgrade")
        flask(env, "seed-demo")
        os.environ.update(env)
        result = measure(args)
    finally:
        if pg_dir:
            subprocess.run([str(ROOT / "scripts" / "pg-tmp"), "stop", pg_dir], check=False)
        subprocess.run(["rm", "-rf", str(tmp)], check=False)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    out = ROOT / "bench" / "results" / f"export-{args.kind}-{args.rows}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
