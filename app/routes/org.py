"""The org tree as the mini-program needs it."""
from __future__ import annotations

from app.routes.common import Blueprint, errors
from app.schemas.common import PageArgs, page_of
from app.schemas.org import CompoundSchema
from app.security import login_required
from app.services import org

blp = Blueprint("org", __name__, url_prefix="/api/v1", description="小区与楼栋")


@blp.route("/compounds", methods=["GET"])
@login_required
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(CompoundSchema))
@errors(codes={422: "invalid_cursor"})
def list_compounds(args):
    """Compounds with their buildings"""
    return org.list_compounds(args["cursor"], args["limit"])
