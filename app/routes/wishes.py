"""微心愿: post, the wall and the other lists, one wish with its timeline, transitions."""
from __future__ import annotations

from app.routes.common import Blueprint, errors, idempotent
from app.schemas.common import page_of
from app.schemas.wishes import (
    WishCreateSchema,
    WishDetailSchema,
    WishListArgs,
    WishSchema,
    WishTransitionSchema,
    wish_detail,
    wish_item,
)
from app.security import current_principal, current_user, login_required
from app.services.wishes import flow, posting, queries

blp = Blueprint("wishes", __name__, url_prefix="/api/v1", description="微心愿")
WishPage = page_of(WishSchema)


@blp.route("/wishes", methods=["POST"])
@login_required
@idempotent
@blp.arguments(WishCreateSchema)
@blp.response(201, WishDetailSchema)
@errors(403, codes={403: ["not_resident", "forbidden"], 404: "household_not_found",
                    409: "wish_limit_reached",
                    422: ["invalid_photos", "content_risky", "consent_required"]})
def create(payload):
    """Post a wish for my household, or (grid worker, secretary) for a household with no
    smartphone; it waits for the secretary's check"""
    wish = posting.post_wish(current_user(), **payload)
    return wish_detail(queries.detail(current_user(), wish.id))


@blp.route("/wishes", methods=["GET"])
@login_required(principal=True)
@blp.arguments(WishListArgs, location="query")
# The wall is a hot read: items are built by `wish_item()` and not dumped a second time
# through marshmallow; the schema documents them.
@blp.response(200)
@blp.doc(responses={"200": {"description": "OK", "content": {"application/json": {
    "schema": WishPage}}}})
@errors(403, codes={403: ["not_community_member", "forbidden"], 404: "compound_not_found",
                    422: ["compound_required", "invalid_cursor"]})
def list_wishes(args):
    """wall (default: my compound's wish wall, requesters masked) | mine | claimed |
    compound | queue (to review, or left unconfirmed)"""
    page = queries.list_wishes(current_principal(), **args)
    return {"items": [wish_item(view) for view in page["items"]],
            "next_cursor": page["next_cursor"]}


@blp.route("/wishes/<int:wish_id>", methods=["GET"])
@login_required
@blp.response(200, WishDetailSchema)
@errors(codes={404: "wish_not_found"})
def detail(wish_id):
    """One wish with its timeline and the actions I may take"""
    return wish_detail(queries.detail(current_user(), wish_id))


@blp.route("/wishes/<int:wish_id>/transitions", methods=["POST"])
@login_required
@blp.arguments(WishTransitionSchema)
@blp.response(200, WishDetailSchema)
@errors(403, codes={404: "wish_not_found",
                    409: ["invalid_transition", "claim_limit_reached"],
                    422: ["validation_error", "content_risky", "invalid_photos"]})
def transition(payload, wish_id):
    """approve, reject, claim, release, fulfil, confirm, dispute, cancel"""
    flow.transition(current_user(), wish_id, **payload)
    return wish_detail(queries.detail(current_user(), wish_id))
