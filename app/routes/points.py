"""Points: my balance and ledger, staff adjustments, ranking preference, 每月一星 rankings."""
from __future__ import annotations

from app.routes.common import Blueprint, errors, idempotent
from app.schemas.common import PageArgs
from app.schemas.points import (
    AdjustmentResultSchema,
    AdjustmentSchema,
    PointsSchema,
    PreferencesSchema,
    RankingArgs,
    RankingSchema,
)
from app.security import current_user, login_required
from app.services.points import ledger, rankings

blp = Blueprint("points", __name__, url_prefix="/api/v1", description="积分")


@blp.route("/points", methods=["GET"])
@login_required
@blp.arguments(PageArgs, location="query")
@blp.response(200, PointsSchema)
@errors(codes={422: "invalid_cursor"})
def my_ledger(args):
    """My balance and ledger, newest first, each entry with why"""
    return ledger.ledger(current_user(), args["cursor"], args["limit"])


@blp.route("/points/adjustments", methods=["POST"])
@login_required
@idempotent
@blp.arguments(AdjustmentSchema)
@blp.response(201, AdjustmentResultSchema)
@errors(codes={403: ["self_adjustment", "not_staff_of_community"],
               404: "user_not_found",
               409: "insufficient_points",
               422: "reason_required"})
def adjust(payload):
    """Staff: award or deduct points for a resident of their community, with a reason"""
    entry, balance = ledger.adjust(current_user(), payload["user_id"], payload["amount"],
                                   payload["reason"])
    return {"entry": entry, "balance": balance}


@blp.route("/points/preferences", methods=["PUT"])
@login_required
@blp.arguments(PreferencesSchema)
@blp.response(200, PreferencesSchema)
def preferences(payload):
    """Show or hide my name in the public monthly ranking"""
    return ledger.set_ranking_public(current_user(), payload["ranking_public"])


@blp.route("/points/rankings", methods=["GET"])
@login_required
@blp.arguments(RankingArgs, location="query")
@blp.response(200, RankingSchema)
@errors(codes={403: "not_community_member", 404: "scope_not_found", 422: "ranking_scope_required"})
def monthly_rankings(args):
    """每月一星: top earners of a compound (default: mine) or a community in a month"""
    return rankings.rankings(current_user(), args["month"], args["compound_id"],
                           args["community_id"], args["limit"])
