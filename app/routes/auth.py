"""Login, logout and the signed-in user's own profile."""
from __future__ import annotations

from flask.views import MethodView

from app.extensions import config_limit, limiter
from app.routes.common import Blueprint, errors
from app.schemas.users import (
    LoginResultSchema,
    LoginSchema,
    MeSchema,
)
from app.security import bearer_token, current_user, login_required
from app.services import auth
from app.services.notifications import inbox

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="登录与个人信息")


@blp.route("/auth/login", methods=["POST"])
@limiter.limit(config_limit("RATELIMIT_LOGIN"))
@blp.arguments(LoginSchema)
@blp.response(200, LoginResultSchema)
@errors(429, codes={401: "invalid_login_code", 403: "login_blocked", 503: "wechat_unavailable"})
def login(payload):
    """wx.login code -> token"""
    token, user = auth.login(payload["code"])
    return {"token": token, "user": user}


@blp.route("/auth/logout", methods=["POST"])
@login_required
@blp.response(204)
def logout():
    """Revoke the token of this request"""
    auth.revoke_token(bearer_token())


@blp.route("/me")
class Me(MethodView):
    @login_required
    @blp.response(200, MeSchema)
    def get(self):
        """The signed-in user: roles, household, compound, unread notifications"""
        return inbox.profile(current_user())
