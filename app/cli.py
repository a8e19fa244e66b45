"""`flask` commands: seed-demo, users, wechat, jobs, notifications, points."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from app.errors import AppError
from app.models import Role


def _lower_priority(niceness: int) -> str:
    """Lower this process's CPU priority by `niceness` (os.nice); what it runs at, as text.

    Linux's autogroup scheduling (sched(7)) weighs a session as one group against the
    others, and a process's own nice counts only inside its group. A process that leads its
    own session (a systemd service, anything started with setsid) would then take as much CPU
    as the web processes whatever its nice: its group's nice is set as well. A process that
    shares its session (honcho's, a terminal's) is weighed by its own nice, as usual."""
    import errno
    import os
    import time
    from pathlib import Path

    if niceness:
        os.nice(niceness)
    group = Path("/proc/self/autogroup")
    if not (niceness and os.getsid(0) == os.getpid() and group.exists()):
        return f"nice {os.nice(0)}"
    for _ in range(20):  # unprivileged, at most one such write every 100 ms machine-wide
        try:
            group.write_text(str(os.nice(0)))
            break
        except OSError as exc:
            if exc.errno != errno.EAGAIN:
                break
            time.sleep(0.1)
    return f"nice {os.nice(0)}, {group.read_text().split()[-1]} for its session"


NICE_HELP = ("Lower this process's CPU priority by this much (os.nice, and its session's "
             "when it leads one; env {env}): on a machine it shares with the web processes, "
             "the callbacks (WeChat's 5 seconds) then come first.")


def _run(fn, *args):
    """Run a service call, turning AppError into a clean CLI error."""
    try:
        return fn(*args)
    except AppError as exc:
        raise click.ClickException(exc.message) from None


users_cli = AppGroup("users", help="Grant and revoke roles, sign users out.")
wechat_cli = AppGroup("wechat", help="WeChat sandbox and tools.")
ROLE_CHOICE = click.Choice([r.value for r in Role])
SCOPE_HELP = "grid:<id>, compound:<id>, community:<id> or department:<id>"


@users_cli.command("grant")
@click.argument("openid")
@click.argument("role", type=ROLE_CHOICE)
@click.option("--scope", help=SCOPE_HELP)
def grant(openid: str, role: str, scope: str | None):
    """Give OPENID the ROLE within --scope."""
    from app.services import users

    user = _run(users.find_user, openid)
    kind, scope_id = _run(users.parse_scope, scope)
    _run(users.grant_role, user, Role(role), kind, scope_id)
    click.echo(f"granted {role} {scope or ''} to {openid}".rstrip())


@users_cli.command("revoke")
@click.argument("openid")
@click.argument("role", type=ROLE_CHOICE)
@click.option("--scope", help=SCOPE_HELP + " (default: every scope of that role)")
def revoke(openid: str, role: str, scope: str | None):
    """Take ROLE away from OPENID."""
    from app.services import users

    user = _run(users.find_user, openid)
    kind, scope_id = _run(users.parse_scope, scope)
    count = _run(users.revoke_role, user, Role(role), kind, scope_id)
    click.echo(f"revoked {count} grant(s)")


@users_cli.command("show")
@click.argument("openid")
def show(openid: str):
    """Show OPENID's roles (no personal data)."""
    from app.services import users

    user = _run(users.find_user, openid)
    click.echo(f"user {user.id} {user.openid} {user.nickname}")
    for g in user.grants:
        scope = f" {g.scope_kind.value}:{g.scope_id}" if g.scope_kind else ""
        click.echo(f"  {g.role.value}{scope}")


@users_cli.command("logout")
@click.argument("openid")
def logout(openid: str):
    """Revoke every token of OPENID (e.g. a lost phone)."""
    from app.services import auth, users

    count = auth.revoke_all_tokens(_run(users.find_user, openid))
    click.echo(f"revoked {count} token(s)")


@users_cli.command("console-link")
@click.argument("openid")
@click.option("--base-url", default="http://localhost:5000", show_default=True)
def console_link(openid: str, base_url: str):
    """Print a one-time staff console sign-in link for OPENID (development)."""
    from app.console import signin
    from app.services import users

    click.echo(_run(signin.console_link, _run(users.find_user, openid), base_url))


@wechat_cli.command("sandbox")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5001, type=int)
def sandbox(host: str, port: int):
    """Run the WeChat sandbox (imitates api.weixin.qq.com)."""
    from werkzeug.serving import run_simple

    from app.wechat.sandbox import create_sandbox_app

    run_simple(host, port, create_sandbox_app(), threaded=True)


@wechat_cli.command("menu")
def wechat_menu():
    """Create the official account's menu (CLICK keys of the bot's flows) through the client."""
    from wechatpy.exceptions import WeChatClientException

    from app.wechat.bot import menu

    try:
        menu.create()
    except WeChatClientException as exc:
        raise click.ClickException(f"WeChat refused the menu: {exc.errcode} {exc.errmsg}") from None
    click.echo(f"menu created: {len(menu.MENU['button'])} buttons")


@wechat_cli.command("bot-worker")
@click.option("--until-empty", is_flag=True, help="Stop when no message is queued.")
@click.option("--nice", "niceness", type=click.IntRange(0, 19), default=0, show_default=True,
              envvar="BOT_WORKER_NICE", help=NICE_HELP.format(env="BOT_WORKER_NICE"))
def wechat_bot_worker(until_empty: bool, niceness: int):
    """Run the bot's deferred messages (photos, filings) outside the web processes; start
    those with BOT_DEFERRED_THREADS=0."""
    import signal
    import threading

    from app.wechat.bot import deferred

    click.echo(f"bot worker started ({_lower_priority(niceness)})")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    click.echo(f"bot worker stopped: {deferred.work(stop=stop, until_empty=until_empty)}")


jobs_cli = AppGroup("jobs", help="Scheduled jobs: list, run the scheduler, run one by hand.")
notifications_cli = AppGroup("notifications", help="The notification outbox.")


@jobs_cli.command("list")
def jobs_list():
    """The declared jobs, their triggers and next run times (Asia/Shanghai): an interval
    job's counted from now, as a scheduler started now would run it."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from flask import current_app

    from app import timeutil
    from app.jobs import JOBS
    from app.jobs.scheduler import triggers

    # The scheduler's own time zone (`flask jobs run`): cron triggers without one use it.
    scheduler = BackgroundScheduler(timezone=timeutil.SHANGHAI)
    scheduler.start(paused=True)  # paused: computes next run times, runs nothing
    specs = triggers(current_app)
    click.echo("next run times in Asia/Shanghai")
    for job in JOBS:
        spec = dict(specs[job.id])
        planned = scheduler.add_job(print, spec.pop("trigger"), id=job.id, **spec)
        when = planned.next_run_time
        shown = f"{timeutil.local(when):%Y-%m-%d %H:%M:%S %z}" if when else "never"
        click.echo(f"{job.id:24} next {shown}  {planned.trigger}\n{'':24} {job.description}")
    scheduler.shutdown(wait=False)


@jobs_cli.command("run")
def jobs_run():
    """Run the scheduler (one leader at a time; others stand by). Ctrl-C or SIGTERM stops."""
    import signal

    from flask import current_app

    from app.jobs.scheduler import Scheduler

    scheduler = Scheduler(current_app._get_current_object())
    signal.signal(signal.SIGTERM, scheduler.stop)
    signal.signal(signal.SIGINT, scheduler.stop)
    scheduler.run()


@jobs_cli.command("run-once")
@click.argument("job_id")
@click.option("--dry-run", is_flag=True, help="Do everything, then roll it back.")
def jobs_run_once(job_id: str, dry_run: bool):
    """Run JOB_ID now, by hand."""
    from app.jobs import get_job
    from app.jobs.runner import run_job
    from app.jobs.scheduler import holder_name

    try:
        job = get_job(job_id)
    except KeyError:
        raise click.ClickException(f"no job {job_id!r}; see `flask jobs list`") from None
    result = run_job(job, f"cli:{holder_name()}", dry_run=dry_run)
    click.echo(f"{job_id}{' (dry run)' if dry_run else ''}: {result}")


@notifications_cli.command("dispatch")
@click.option("--until-empty", is_flag=True, help="Stop when nothing is due.")
@click.option("--batch-size", type=int, default=None, help="Rows claimed at a time.")
@click.option("--nice", "niceness", type=click.IntRange(0, 19), default=0, show_default=True,
              envvar="DISPATCH_NICE", help=NICE_HELP.format(env="DISPATCH_NICE"))
def notifications_dispatch(until_empty: bool, batch_size: int | None, niceness: int):
    """Deliver queued notifications (run as many of these as you like)."""
    import signal
    import threading

    from app.services.notifications import dispatch

    click.echo(f"dispatcher started ({_lower_priority(niceness)})")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stats = dispatch.run(stop=stop, until_empty=until_empty, batch_size=batch_size)
    click.echo(f"dispatcher stopped: {stats.as_dict()}")


points_cli = AppGroup("points", help="The points ledger.")


@points_cli.command("verify")
def points_verify():
    """Prove every cached balance equals the sum of its ledger entries (exit 1 if not)."""
    from app.services.points import ledger as points

    problems = points.verify()
    for p in problems:
        click.echo(f"account {p['user_id']}: balance {p['balance']} version {p['version']}, "
                   f"ledger sum {p['ledger_sum']} over {p['entries']} entries, last "
                   f"balance_after {p['last_balance_after']}", err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} account(s) disagree with the ledger")
    click.echo("points ledger verified: every balance equals the sum of its entries")


@click.command("seed-demo")
def seed_demo():
    """Create the demo community (safe to run twice)."""
    from app.services.demo.seed import seed_demo as run

    counts = run()
    click.echo("demo data ready: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


def register_cli(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(wechat_cli)
    app.cli.add_command(seed_demo)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(notifications_cli)
    app.cli.add_command(points_cli)
