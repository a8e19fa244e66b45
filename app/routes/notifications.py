"""Subscribe-message credits and the in-app inbox."""
from __future__ import annotations

from app.routes.common import Blueprint, errors, idempotent
from app.schemas.common import page_of
from app.schemas.notifications import (
    CreditListSchema,
    InboxArgs,
    InboxItemSchema,
    ReadAllSchema,
    SubscribeTemplateListSchema,
    SubscriptionsSchema,
)
from app.security import current_user, login_required
from app.services.notifications import inbox, subscriptions

blp = Blueprint("notifications", __name__, url_prefix="/api/v1", description="消息与订阅")


@blp.route("/subscriptions", methods=["POST"])
@login_required
@idempotent
@blp.arguments(SubscriptionsSchema)
@blp.response(200, CreditListSchema)
@errors(codes={422: "unknown_template"})
def subscribe(payload):
    """Record the result of wx.requestSubscribeMessage: one credit per acceptance"""
    items = subscriptions.record_subscriptions(current_user(), payload["template_keys"],
                                               payload["rejected_keys"])
    return {"items": items, "next_cursor": None}


@blp.route("/subscriptions/templates", methods=["GET"])
@login_required
@blp.response(200, SubscribeTemplateListSchema)
def subscribe_templates():
    """The template ids to pass to wx.requestSubscribeMessage, by template key"""
    return {"items": subscriptions.requestable(), "next_cursor": None}


@blp.route("/inbox", methods=["GET"])
@login_required
@blp.arguments(InboxArgs, location="query")
@blp.response(200, page_of(InboxItemSchema))
@errors(codes={422: "invalid_cursor"})
def my_inbox(args):
    """My notifications, newest first"""
    return inbox.inbox(current_user(), args["cursor"], args["limit"], args["unread"])


@blp.route("/inbox/<int:notification_id>/read", methods=["POST"])
@login_required
@blp.response(200, InboxItemSchema)
@errors(codes={404: "notification_not_found"})
def read(notification_id):
    """Mark one notification read"""
    return inbox.mark_read(current_user(), notification_id)


@blp.route("/inbox/read-all", methods=["POST"])
@login_required
@blp.response(200, ReadAllSchema)
def read_all():
    """Mark all my unread notifications read; how many were"""
    return {"count": inbox.mark_all_read(current_user())}
