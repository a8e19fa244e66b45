"""Points: my balance and ledger, staff adjustments, ranking preference, 每月一星 rankings."""
from __future__ import annotations

from app.routes.common import Blueprint, idempotent
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
def my_ledger(args):
    """My balance and ledger, newest first, each entry with why"""
    return ledger.ledger(current_user(), args["cursor"], args["limit"])


@blp.route("/points/adjustments", methods=["POST"])
@login_required
@idempotent
@blp.arguments(AdjustmentSchema)
@blp.response(201, AdjustmentResultSchema)
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
def monthly_rankings(args):
    """每月一星: top earners of a compound (default: mine) or a community in a month"""
    return rankings.rankings(current_user(), args["month"], args["compound_id"],
                           args["community_id"], args["limit"])
