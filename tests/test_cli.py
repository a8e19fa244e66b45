"""`flask users ...` and `flask jobs list` from the command line (`flask seed-demo`:
tests/services/test_demo_seed.py)."""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.models import Role, RoleGrant, User
from app.services.permissions import has_role


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_grant_and_revoke_with_scope(app, world, ctx):
    grid2 = world["grids"][1]
    result = run(app, "users", "grant", "demo-resident-2", "grid_worker", "--scope",
                 f"grid:{grid2}")
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).where(User.openid == "demo-resident-2"))
    from app.models import Grid
    assert has_role(user, Role.GRID_WORKER, db.session.get(Grid, grid2))
    shown = run(app, "users", "show", "demo-resident-2")
    assert f"grid_worker grid:{grid2}" in shown.output
    revoked = run(app, "users", "revoke", "demo-resident-2", "grid_worker")
    assert "revoked 1 grant(s)" in revoked.output
    db.session.expire_all()
    assert not has_role(user, Role.GRID_WORKER)


def test_grant_refuses_wrong_scope(app, world, ctx):
    before = count(RoleGrant)
    for args, message in [
        (("--scope", "compound:1"), "grid:<id>"),           # a grid worker needs a grid
        (("--scope", "grid:999"), "不存在"),                 # unknown grid
        (("--scope", "street-1"), "范围格式"),                # malformed
        ((), "grid:<id>"),                                  # missing
    ]:
        result = run(app, "users", "grant", "demo-resident", "grid_worker", *args)
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    assert run(app, "users", "grant", "nobody", "admin").exit_code != 0
    assert count(RoleGrant) == before


def test_jobs_list_shows_next_runs_in_asia_shanghai(app, monkeypatch):
    # 2026-12-01 20:00 UTC is 12-02 04:00 in Asia/Shanghai.
    monkeypatch.setitem(app.config, "JOB_TRIGGERS", {
        "incident-auto-close": {"trigger": "cron", "hour": 7, "minute": 30}})  # no timezone
    with time_machine.travel(datetime(2026, 12, 1, 20, 0, tzinfo=timezone.utc), tick=False):
        result = run(app, "jobs", "list")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()
             if line and not line.startswith(" ")}
    assert "Asia/Shanghai" in result.output.splitlines()[0]
    # Interval jobs: one interval from now; cron jobs on Shanghai's clock, with or
    # without a timezone of their own.
    assert "next 2026-12-02 04:01:00 +0800" in lines["incident-sla"]
    assert "next 2026-12-02 04:10:00 +0800" in lines["redemption-expiry"]
    assert "next 2026-12-02 08:00:00 +0800" in lines["work-digest"]
    assert "next 2026-12-02 07:30:00 +0800" in lines["incident-auto-close"]
    assert "apscheduler" not in result.output and "Added job" not in result.output
