"""Household membership: bind an address (a request), the approvers' queue, decisions,
leaving, and the grid worker's one-time invite codes."""
from __future__ import annotations

from app.extensions import config_limit, limiter
from app.routes.common import Blueprint, errors
from app.schemas.common import PageArgs, page_of
from app.schemas.households import (
    HouseholdBindSchema,
    InviteSchema,
    MembershipSchema,
    MembershipTransitionSchema,
    QueueArgs,
)
from app.security import current_user, login_required
from app.services.households import invites, membership, queries

blp = Blueprint("households", __name__, url_prefix="/api/v1", description="住址认证")
MembershipPage = page_of(MembershipSchema)


@blp.route("/me/household", methods=["PUT"])
@login_required
@limiter.limit(config_limit("RATELIMIT_HOUSEHOLD"))  # per user: invite codes are not guessed
@blp.arguments(HouseholdBindSchema)
@blp.response(200, MembershipSchema)
@errors(429, codes={404: "building_not_found", 409: "already_member",
                    422: ["address_required", "household_not_found", "invalid_invite_code"]})
def bind_household(payload):
    """Ask to be a verified member of a household (building, unit, room), or join at once
    with an invite code; until verified I am not a resident"""
    return membership.request_membership(current_user(), **payload)


@blp.route("/me/household", methods=["DELETE"])
@login_required
@blp.response(200, MembershipSchema)
@errors(codes={404: "membership_not_found"})
def leave_household():
    """Leave my verified household (moving out)"""
    return membership.leave_mine(current_user())


@blp.route("/me/household-requests", methods=["GET"])
@login_required
@blp.arguments(PageArgs, location="query")
@blp.response(200, MembershipPage)
@errors(codes={422: "invalid_cursor"})
def my_requests(args):
    """My membership requests and their outcome, newest first"""
    return queries.my_requests(current_user(), args["cursor"], args["limit"])


@blp.route("/household-requests", methods=["GET"])
@login_required
@blp.arguments(QueueArgs, location="query")
@blp.response(200, MembershipPage)
@errors(403, codes={422: "invalid_cursor"})
def request_queue(args):
    """Requests I may decide (grid worker, secretary, staff, or a member of the household),
    oldest first, with the household's verified members"""
    return queries.queue(current_user(), args["status"], args["cursor"], args["limit"])


@blp.route("/household-requests/<int:membership_id>/transitions", methods=["POST"])
@login_required
@blp.arguments(MembershipTransitionSchema)
@blp.response(200, MembershipSchema)
@errors(403, codes={404: "membership_not_found", 409: ["invalid_transition", "request_expired"],
                    422: "validation_error"})
def decide(payload, membership_id):
    """approve, refuse (with a reason), withdraw (the requester), leave"""
    return membership.transition(current_user(), membership_id, payload["action"],
                                 payload["note"])


@blp.route("/households/<int:household_id>/invites", methods=["POST"])
@login_required
@blp.response(201, InviteSchema)
@errors(403, codes={404: "household_not_found", 503: "pickup_code_exhausted"})
def create_invite(household_id):
    """A one-time invite code for a household (grid worker, secretary, staff), valid 7 days"""
    return invites.create_invite(current_user(), household_id)
