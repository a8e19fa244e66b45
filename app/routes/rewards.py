"""爱心积分超市: the shop, redeeming for a pickup code, my redemptions, staff hand-over."""
from __future__ import annotations

from app.routes.common import Blueprint, errors, idempotent
from app.schemas.common import page_of
from app.schemas.rewards import (
    RedeemSchema,
    RedemptionArgs,
    RedemptionLookupSchema,
    RedemptionSchema,
    RewardArgs,
    RewardCreateSchema,
    RewardSchema,
    RewardUpdateSchema,
)
from app.security import current_user, login_required
from app.services.points import rewards

blp = Blueprint("rewards", __name__, url_prefix="/api/v1", description="积分超市")


@blp.route("/rewards", methods=["GET"])
@login_required
@blp.arguments(RewardArgs, location="query")
@blp.response(200, page_of(RewardSchema))
@errors(codes={403: "not_community_member", 404: "community_not_found", 422: "invalid_cursor"})
def list_rewards(args):
    """The shop of my community (staff: `all=true` includes what is off sale)"""
    return rewards.list_rewards(current_user(), args["community_id"], args["all"],
                                args["cursor"], args["limit"])


@blp.route("/rewards", methods=["POST"])
@login_required
@idempotent
@blp.arguments(RewardCreateSchema)
@blp.response(201, RewardSchema)
@errors(403, codes={404: ["community_not_found", "upload_not_found"], 422: "invalid_window"})
def create(payload):
    """Staff: put a reward in the community's shop"""
    return rewards.create_reward(current_user(), payload)


@blp.route("/rewards/<int:reward_id>", methods=["PUT"])
@login_required
@blp.arguments(RewardUpdateSchema)
@blp.response(200, RewardSchema)
@errors(403, codes={404: ["reward_not_found", "upload_not_found"], 422: "invalid_window"})
def update(payload, reward_id):
    """Staff: change a reward (stock, cost, window, taking it off sale ...)"""
    return rewards.update_reward(current_user(), reward_id, payload)


@blp.route("/rewards/<int:reward_id>/redeem", methods=["POST"])
@login_required
@idempotent
@blp.arguments(RedeemSchema)
@blp.response(201, RedemptionSchema)
@errors(codes={403: "not_community_member",
               404: "reward_not_found",
               409: ["reward_inactive", "reward_not_started", "reward_ended", "redemption_limit_reached",
                     "insufficient_points", "out_of_stock"],
               503: "pickup_code_exhausted"})
def redeem(payload, reward_id):
    """Spend points on a reward: returns a 6-digit pickup code and its QR payload"""
    return rewards.redeem(current_user(), reward_id, payload["quantity"])


@blp.route("/redemptions", methods=["GET"])
@login_required
@blp.arguments(RedemptionArgs, location="query")
@blp.response(200, page_of(RedemptionSchema))
@errors(codes={422: "invalid_cursor"})
def my_redemptions(args):
    """My redemptions, newest first"""
    return rewards.my_redemptions(current_user(), args["status"], args["cursor"],
                                  args["limit"])


@blp.route("/redemptions/<int:redemption_id>/cancel", methods=["POST"])
@login_required
@blp.response(200, RedemptionSchema)
@errors(codes={404: "redemption_not_found", 409: "redemption_not_cancellable"})
def cancel(redemption_id):
    """Give a redemption back before pickup: points and stock return"""
    return rewards.cancel(current_user(), redemption_id)


@blp.route("/redemptions/<code>", methods=["GET"])
@login_required
@blp.response(200, RedemptionLookupSchema)
@errors(403, codes={404: "redemption_not_found", 422: "invalid_pickup_code"})
def look_up(code):
    """Staff: look a redemption up by its 6-digit pickup code or the QR payload
    `linli:redemption:<code>` before handing it over"""
    return rewards.look_up(current_user(), code)


@blp.route("/redemptions/<code>/fulfil", methods=["POST"])
@login_required
@blp.response(200, RedemptionSchema)
@errors(403, codes={404: "redemption_not_found",
                    409: ["redemption_already_fulfilled", "redemption_closed", "redemption_expired"],
                    422: "invalid_pickup_code"})
def fulfil(code):
    """Staff: hand the reward over against its pickup code (once)"""
    return rewards.fulfil(current_user(), code)
