"""Questions the catalog could not answer: gap rows for staff to fill the catalog, and 人工
tickets a person answers.

`record_gap` and `open_ticket` are the bot's helpers (flush only, inside its handling's
transaction). Staff of the community (admin anywhere) list gaps and tickets and answer a
ticket: the answer goes to a bound follower as a customer-service message through the
outbox (app.wechat.bot.deliver), and to an unbound one with their next message. They mark
a gap handled (`resolve_gap`, once: 409 `gap_already_resolved`) once the catalog answers it.
"""
from __future__ import annotations

import sqlalchemy as sa

from app.errors import Conflict, NotFound
from app.extensions import db
from app.models import BotTicket, Community, GuideGap, Role, User
from app.models.base import utcnow
from app.models.bot import QUESTION_MAX, TicketStatus
from app.services.guides.catalog import _community
from app.services.pagination import paginate
from app.services.permissions import authorize, has_role


def record_gap(community_id: int | None, question: str, best_entry_id: int | None,
               score: float) -> GuideGap:
    gap = GuideGap(community_id=community_id, question=question[:QUESTION_MAX],
                   best_entry_id=best_entry_id, score=score, resolved=False)
    db.session.add(gap)
    db.session.flush()
    return gap


def open_ticket(openid: str, user_id: int | None, community_id: int | None,
                question: str) -> BotTicket:
    ticket = BotTicket(openid=openid, user_id=user_id, community_id=community_id,
                       question=question[:QUESTION_MAX], status=TicketStatus.OPEN,
                       delivered=False)
    db.session.add(ticket)
    db.session.flush()
    return ticket


def list_gaps(user: User, community_id: int | None, cursor: str | None, limit: int) -> dict:
    community = _community(community_id, user)
    authorize(user, Role.STAFF, community)
    query = sa.select(GuideGap).where(GuideGap.community_id == community.id,
                                      GuideGap.resolved.is_(False))
    return paginate(query, GuideGap.id, cursor, limit, descending=True)


def list_tickets(user: User, community_id: int | None, status: str | None,
                 cursor: str | None, limit: int) -> dict:
    community = _community(community_id, user)
    authorize(user, Role.STAFF, community)
    query = sa.select(BotTicket).where(BotTicket.community_id == community.id)
    if status:
        query = query.where(BotTicket.status == TicketStatus(status))
    return paginate(query, BotTicket.id, cursor, limit, descending=True)


def answer_ticket(user: User, ticket_id: int, answer: str) -> BotTicket:
    from app.wechat.bot import deliver

    ticket = db.session.scalar(sa.select(BotTicket).where(BotTicket.id == ticket_id)
                               .with_for_update())
    community = db.session.get(Community, ticket.community_id) if ticket and ticket.community_id \
        else None
    if ticket is None or not (has_role(user, Role.STAFF, community) if community
                              else has_role(user, Role.ADMIN)):
        raise NotFound("工单不存在", code="ticket_not_found")
    if ticket.status is TicketStatus.ANSWERED:
        raise Conflict("该工单已答复", code="ticket_already_answered")
    ticket.status, ticket.answer = TicketStatus.ANSWERED, answer
    ticket.answered_by_id, ticket.answered_at = user.id, utcnow()
    follower = db.session.get(User, ticket.user_id) if ticket.user_id else None
    if follower is not None:
        deliver.queue_reply(follower, f"bot:ticket:{ticket.id}:answer",
                            f"您的问题“{ticket.question[:20]}”答复如下：\n{answer}")
        ticket.delivered = True
    db.session.commit()
    return ticket


def resolve_gap(user: User, gap_id: int) -> GuideGap:
    """Take a gap off the list (the community's staff, admin for one without a community)."""
    gap = db.session.scalar(sa.select(GuideGap).where(GuideGap.id == gap_id).with_for_update())
    community = db.session.get(Community, gap.community_id) if gap and gap.community_id \
        else None
    if gap is None or not (has_role(user, Role.STAFF, community) if community
                           else has_role(user, Role.ADMIN)):
        raise NotFound("问题不存在", code="gap_not_found")
    if gap.resolved:
        raise Conflict("该问题已处理", code="gap_already_resolved")
    gap.resolved = True
    db.session.commit()
    return gap
