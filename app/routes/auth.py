"""Login, logout and the signed-in user's own profile."""
from __future__ import annotations

from flask.views import MethodView

from app.extensions import config_limit, limiter
from app.routes.common import Blueprint, errors
from app.schemas.users import (
    LoginResultSchema,
    LoginSchema,
    MeSchema,
    PhoneSchema,
    ProfileUpdateSchema,
)
from app.security import bearer_token, current_user, login_required
from app.services import auth, profile

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="登录与个人信息")


@blp.route("/auth/login", methods=["POST"])
@limiter.limit(config_limit("RATELIMIT_LOGIN"))
@blp.arguments(LoginSchema)
@blp.response(200, LoginResultSchema)
@errors(429, codes={401: "invalid_login_code", 403: "login_blocked", 503: "wechat_unavailable"})
def login(payload):
    """wx.login code -> token (and when it expires)"""
    token, expires_at, user = auth.login(payload["code"])
    return {"token": token, "expires_at": expires_at, "user": user}


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
        """The signed-in user: roles, household, compound, avatar, unread notifications"""
        return profile.me(current_user())

    @login_required
    @blp.arguments(ProfileUpdateSchema)
    @blp.response(200, MeSchema)
    @errors(codes={422: ["validation_error", "invalid_photos", "content_risky"]})
    def put(self, payload):
        """Change my nickname (1–32 characters) or avatar (one of my own uploads; null
        removes it); a field not sent stays as it is"""
        return profile.update_profile(current_user(), payload)


@blp.route("/me/phone", methods=["POST"])
@login_required
@limiter.limit(config_limit("RATELIMIT_PHONE"))  # WeChat bills every phone-number call
@blp.arguments(PhoneSchema)
@blp.response(200, MeSchema)
@errors(429, codes={422: ["validation_error", "invalid_phone_code"],
                    503: "wechat_unavailable"})
def bind_phone(payload):
    """My phone number from the mini-program's phone button (getPhoneNumber's code);
    shown masked"""
    return profile.bind_phone(current_user(), payload["code"])
