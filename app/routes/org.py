"""The org tree as the mini-program needs it."""
from __future__ import annotations

from app.routes.common import Blueprint, errors
from app.schemas.common import PageArgs, page_of
from app.schemas.org import CompoundSchema, DepartmentSchema, GridWorkerSchema
from app.security import current_user, login_required
from app.services import org

blp = Blueprint("org", __name__, url_prefix="/api/v1", description="小区、楼栋、部门与网格员")


@blp.route("/compounds", methods=["GET"])
@login_required
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(CompoundSchema))
@errors(codes={422: "invalid_cursor"})
def list_compounds(args):
    """Compounds with their buildings"""
    return org.list_compounds(args["cursor"], args["limit"])


@blp.route("/departments", methods=["GET"])
@login_required
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(DepartmentSchema))
@errors(codes={422: "invalid_cursor"})
def list_departments(args):
    """Departments with their street (to escalate an incident to)"""
    return org.list_departments(args["cursor"], args["limit"])


@blp.route("/compounds/<int:compound_id>/grid-workers", methods=["GET"])
@login_required
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(GridWorkerSchema))
@errors(403, codes={404: "compound_not_found", 422: "invalid_cursor"})
def grid_workers(args, compound_id):
    """The grid workers of the compound's community, with their grid (to reassign an
    incident to; the community's staff and the compound's secretary)"""
    return org.grid_workers(current_user(), compound_id, args["cursor"], args["limit"])
