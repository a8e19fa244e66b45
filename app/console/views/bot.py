"""The official-account bot's desk work for the community's staff: 人工 tickets (a
follower asked for a person) with an answer box, and the catalog's gaps (questions the
办事指南 could not answer) to mark handled once the catalog answers them.

Through the API's service (`guides.handoff`: `list_tickets`, `list_gaps`, staff of the
community, admin anywhere; `answer_ticket`, which queues the answer as a customer-service
message through the outbox; `resolve_gap`), the answer read by the API's schema; audited."""
from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from app.console import audit, metrics
from app.console.views.canteen import load
from app.console.web import bp
from app.errors import Forbidden
from app.models import BotTicket, GuideGap, Role
from app.models.bot import TicketStatus
from app.schemas.guides import TicketAnswerSchema
from app.services.guides import handoff
from app.services.permissions import has_role

QUEUE_LIMIT = 100
TICKET_FIELDS = ("status", "answer", "answered_by_id", "answered_at", "delivered")


def sees_bot(user) -> bool:
    return has_role(user, Role.STAFF)


@bp.context_processor
def _nav():
    user = g.get("console_user")
    return {"nav_bot": user is not None and sees_bot(user)}


def desks(user) -> list[dict]:
    """Each community the user is staff of (admin: every one): open tickets and gaps."""
    out = []
    for scope in metrics.choices(user):
        if scope.kind != "community" or not has_role(user, Role.STAFF, scope.row):
            continue
        out.append({"community": scope.row,
                    "tickets": handoff.list_tickets(user, scope.id, TicketStatus.OPEN.value,
                                                    None, QUEUE_LIMIT)["items"],
                    "gaps": handoff.list_gaps(user, scope.id, None, QUEUE_LIMIT)["items"]})
    return out


@bp.get("/bot")
def bot():
    """人工 tickets to answer and the catalog's gaps"""
    user = g.console_user
    if not sees_bot(user):
        raise Forbidden("只有社区工作者可以处理服务号的人工咨询")
    return render_template("console/bot.html", desks=desks(user))


@bp.post("/bot/tickets/<int:ticket_id>/answer")
def answer_ticket(ticket_id: int):
    """Answer a 人工 ticket (sent to the follower through the outbox)"""
    user = g.console_user
    answer = load(TicketAnswerSchema(), {"answer": request.form.get("answer", "")})["answer"]
    ticket = audit.audited(user.id, "ticket_answer", BotTicket, ticket_id, TICKET_FIELDS,
                           lambda: handoff.answer_ticket(user, ticket_id, answer))
    flash(f"工单 #{ticket_id}：已答复" + ("，已发送给居民" if ticket.delivered
                                         else "，居民下次发消息时会收到"), "ok")
    return redirect(url_for("console.bot"))


@bp.post("/bot/gaps/<int:gap_id>/resolve")
def resolve_gap(gap_id: int):
    """Mark a catalog gap handled"""
    user = g.console_user
    audit.audited(user.id, "gap_resolve", GuideGap, gap_id, ("resolved",),
                  lambda: handoff.resolve_gap(user, gap_id))
    flash(f"问题 #{gap_id}：已标记为已处理", "ok")
    return redirect(url_for("console.bot"))
