"""The mini-program's side of the console sign-in: approve a scanned QR code."""
from __future__ import annotations

from app.console import signin
from app.routes.common import Blueprint, errors
from app.schemas.console import ApprovedSchema, ApproveSchema
from app.security import current_user, login_required

blp = Blueprint("console_api", __name__, url_prefix="/api/v1", description="管理后台扫码登录")


@blp.route("/console/approve", methods=["POST"])
@login_required
@blp.arguments(ApproveSchema)
@blp.response(200, ApprovedSchema)
@errors(codes={403: "console_not_staff", 404: "console_nonce_not_found",
               409: ["console_nonce_used", "console_nonce_expired"]})
def approve(payload):
    """Confirm signing in to the staff console (staff-side roles only)"""
    row = signin.approve(current_user(), payload["nonce"])
    return {"approved": True, "approved_at": row.approved_at}
