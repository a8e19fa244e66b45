"""`flask` commands: seed-demo, users, wechat (and later jobs, notifications)."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from app.errors import AppError
from app.models import Role


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


@wechat_cli.command("sandbox")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5001, type=int)
def sandbox(host: str, port: int):
    """Run the WeChat sandbox (imitates api.weixin.qq.com)."""
    from werkzeug.serving import run_simple

    from app.wechat.sandbox import create_sandbox_app

    run_simple(host, port, create_sandbox_app(), threaded=True)


@click.command("seed-demo")
def seed_demo():
    """Create the demo community (safe to run twice)."""
    from app.services.demo import seed_demo as run

    counts = run()
    click.echo("demo data ready: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


def register_cli(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(wechat_cli)
    app.cli.add_command(seed_demo)
