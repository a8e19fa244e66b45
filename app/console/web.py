"""The console blueprint and its request hooks.

Before every request: the signed-in user from the session cookie (app.console.cookies,
app.console.signin), else a redirect to the sign-in page (public endpoints excepted); CSRF
on every POST. After it: the session cookie re-signed (the idle timeout starts again).
Errors: an `AppError` rolls back, then a POST flashes its Chinese message and goes back to
the page it came from; a GET renders the error page with the error's status. Never JSON.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from werkzeug.exceptions import HTTPException

from app import timeutil
from app.console import cookies, signin
from app.errors import PAGE_RENDERERS, AppError
from app.extensions import db

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")
STATIC = Path(__file__).resolve().parent / "static"
ASSET_MAX_AGE = 86400  # vendored files carry their version in the name
PUBLIC = {"console.login", "console.login_qr", "console.login_poll", "console.login_link",
          "console.asset", "console.vendor"}


@bp.get("/static/<name>")
def asset(name: str):
    """The console's own CSS and JS"""
    return send_from_directory(STATIC, name, max_age=ASSET_MAX_AGE)


@bp.get("/static/vendor/<name>")
def vendor(name: str):
    """Vendored htmx and Chart.js (versions in the file names)"""
    return send_from_directory(STATIC / "vendor", name, max_age=ASSET_MAX_AGE)


@bp.record_once
def _cookie_settings(state) -> None:
    # Flask's own session cookie carries only flashed messages; make it as strict as ours.
    config = state.app.config
    if config.get("SESSION_COOKIE_SAMESITE") is None:
        config["SESSION_COOKIE_SAMESITE"] = "Lax"
    if config.get("ENV_NAME") == "production":
        config["SESSION_COOKIE_SECURE"] = True


@bp.before_request
def _who():
    g.console_sid = g.console_session = g.console_user = None
    sid = cookies.read_sid()
    found = signin.session_user(sid) if sid else None
    if found is not None:
        g.console_sid, (g.console_session, g.console_user) = sid, found
    if request.endpoint in PUBLIC:
        basis = cookies.login_secret()
    elif g.console_user is None:
        return _to_login()
    else:
        basis = g.console_sid
    if request.method == "POST" and not cookies.csrf_ok(basis):
        return render_template("console/error.html", message="页面已过期，请刷新后重试",
                               status=400), 400
    return None


def _to_login():
    target = url_for("console.login")
    if request.headers.get("HX-Request"):
        return "", 204, {"HX-Redirect": target}
    return redirect(target)


@bp.after_request
def _refresh(response):
    if g.get("console_sid") and not g.get("console_signed_out"):
        cookies.write_sid(response, g.console_sid)
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Frame-Options", "DENY")
    # Everything comes from the app itself (no CDN); htmx adds its indicator styles inline.
    response.headers.setdefault("Content-Security-Policy", "default-src 'self'; img-src 'self' "
                                "data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
    return response


@bp.context_processor
def _page_context():
    basis = g.get("console_sid") or cookies.login_secret()
    return {"csrf_token": cookies.csrf_token(basis) if basis else "",
            "me": g.get("console_user")}


@bp.app_template_filter("console_time")
def _console_time(moment) -> str:
    """A stored UTC time as Asia/Shanghai, to the minute."""
    return "" if moment is None else timeutil.local(moment).strftime("%Y-%m-%d %H:%M")


@bp.errorhandler(AppError)
def _app_error(error: AppError):
    db.session.rollback()
    if request.method == "POST":
        flash(error.message, "error")
        return redirect(_back())
    return render_template("console/error.html", message=error.message,
                           status=error.status), error.status


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    """werkzeug's own answers inside the console (a missing asset, a wrong method): HTML too."""
    messages = {404: "页面不存在", 405: "不支持的操作", 429: "操作过于频繁，请稍后再试"}
    status = error.code or 500
    return render_template("console/error.html", message=messages.get(status, "请求有误"),
                           status=status), status


def _error_page(status: int, message: str):
    """The console's page for the app-wide handlers (no route matched, a wrong method, the
    database down): what the JSON API says in its envelope, said as HTML."""
    return make_response(render_template("console/error.html", message=message,
                                         status=status))


PAGE_RENDERERS["/console"] = _error_page


def _back() -> str:
    """The page the form was on (same site only), else the dashboard."""
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc == request.host and referrer.path.startswith("/console"):
        return referrer.path + (f"?{referrer.query}" if referrer.query else "")
    return url_for("console.dashboard")


def document(app, spec) -> None:
    """The console's pages in the OpenAPI document, for completeness: HTML for a browser
    with the console's session cookie, not the JSON API (no envelope, no bearer token)."""
    cookie = "Signed-in console session (cookie `linli_console`); POSTs carry the CSRF token."
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("console."):
            continue
        view = app.view_functions[rule.endpoint]
        summary = (view.__doc__ or rule.endpoint).strip().splitlines()[0]
        spec.path(rule=rule, operations={
            method.lower(): {"tags": ["管理后台（网页）"], "summary": summary,
                             "description": "" if rule.endpoint in PUBLIC else cookie,
                             "responses": {"200": {"description": "an HTML page or fragment"}}}
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"})})
