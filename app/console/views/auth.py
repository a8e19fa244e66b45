"""Sign-in by QR code, the development link, sign-out and sign-out everywhere.

The sign-in page (GET) only sets the browser secret cookie; the nonce is made by a POST
(`login_qr`, htmx on load), and the page polls `login_poll` (POST) until the staff member
has approved it in the mini-program."""
from __future__ import annotations

import segno
from flask import g, make_response, redirect, render_template, request, url_for

from app.console import cookies, signin
from app.console.web import bp
from app.errors import AppError
from app.extensions import config_limit, limiter


@bp.get("/login")
def login():
    """The sign-in page (sets the sign-in cookie; the QR comes by POST)"""
    if g.console_user is not None:
        return redirect(url_for("console.dashboard"))
    secret = cookies.login_secret()
    response = make_response()
    if secret is None:
        secret = cookies.new_login_secret(response)
    response.set_data(render_template("console/login.html",
                                      page_csrf=cookies.csrf_token(secret)))
    return response


@bp.post("/login/qr")
@limiter.limit(config_limit("RATELIMIT_LOGIN"))  # anyone may ask: bound the rows they make
def login_qr():
    """A fresh QR code (nonce) for this browser (htmx fragment)"""
    nonce = signin.new_nonce(cookies.login_secret())
    svg = segno.make(signin.QR_PREFIX + nonce, error="m").svg_data_uri(scale=6)
    return render_template("console/_qr.html", nonce=nonce, svg=svg,
                           seconds=signin.NONCE_SECONDS)


@bp.post("/login/poll")
def login_poll():
    """Poll a nonce: waiting, refused, or signed in (HX-Redirect)"""
    try:
        done = signin.consume(request.form.get("nonce", ""), cookies.login_secret(),
                              request.headers.get("User-Agent"))
    except AppError as error:
        return render_template("console/_qr_failed.html", message=error.message)
    if done is None:
        return render_template("console/_qr_waiting.html", nonce=request.form["nonce"])
    return _signed_in(done[0], {"HX-Redirect": url_for("console.dashboard")})


def _signed_in(sid: str, headers: dict | None = None):
    response = make_response("", 204) if headers else redirect(url_for("console.dashboard"))
    response.headers.update(headers or {})
    cookies.write_sid(response, sid)  # a brand-new id: nothing from before sign-in survives
    cookies.clear(response, cookies.LOGIN_COOKIE)
    g.console_signed_out = True  # the old session (if any) is not refreshed
    return response


@bp.route("/login/link", methods=["GET", "POST"])
def login_link():
    """`flask users console-link`: the GET shows a button, the POST signs in (a GET
    writes nothing, and a link previewed by a chat app is not consumed)."""
    nonce, secret = request.values.get("nonce", ""), request.values.get("secret", "")
    if request.method == "GET":
        response = make_response()
        basis = cookies.login_secret() or cookies.new_login_secret(response)
        response.set_data(render_template("console/link.html", nonce=nonce, secret=secret,
                                          page_csrf=cookies.csrf_token(basis)))
        return response
    done = signin.consume(nonce, secret, request.headers.get("User-Agent"))
    if done is None:
        raise AppError("链接无效")
    return _signed_in(done[0])


@bp.post("/logout")
def logout():
    """Sign out this browser"""
    signin.sign_out(g.console_session)
    return _signed_out()


@bp.post("/logout-everywhere")
def logout_everywhere():
    """Sign out every console session of the user"""
    signin.sign_out_everywhere(g.console_user.id)
    return _signed_out()


def _signed_out():
    response = redirect(url_for("console.login"))
    cookies.clear(response, cookies.SESSION_COOKIE)
    g.console_signed_out = True
    return response

