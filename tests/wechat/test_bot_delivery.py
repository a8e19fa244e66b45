"""Where the bot's later answers go: customer-service messages stop when the follower
unfollows (what was queued becomes inbox-only, new answers go to the inbox) and start again
when they follow again; outside the 48-hour window with no template message to fall back
to, the answer is in the inbox; a rate-limited message changes nothing."""
from __future__ import annotations

import time

import requests
import sqlalchemy as sa

from app.extensions import db
from app.models import BotInbound, BotSession, BotTicket, Channel, DeliveryStatus, Notification
from app.services.notifications import dispatch
from tests.fixtures.bot import custom_messages, wait_deferred
from tests.helpers import in_app

ZHANG = "mp-demo-resident"


def late_answer(app, bot, text: str = "积分") -> None:
    """A passive answer ready too late: queued as a customer-service message."""
    app.config["BOT_REPLY_SECONDS"] = 0
    try:
        assert bot.say(ZHANG, text) is None
    finally:
        app.config["BOT_REPLY_SECONDS"] = 4.0


def notifications(app) -> list[Notification]:
    return in_app(app, lambda: list(db.session.scalars(sa.select(Notification)
                                                       .order_by(Notification.id))))


def inbox_texts(client, headers) -> list[str]:
    return [item["text"] for item in client.get("/api/v1/inbox", headers=headers).get_json()["items"]]


def test_unfollowing_stops_queued_and_later_customer_service_messages(app, client, world,
                                                                      people, bot, sandbox_url):
    bot.event(ZHANG, "subscribe")
    assert "说明您的问题" in bot.say(ZHANG, "人工")
    assert "工单" in bot.say(ZHANG, "暖气费在哪交")
    late_answer(app, bot)  # queued, not yet sent
    assert bot.event(ZHANG, "unsubscribe") is None
    wait_deferred(app)
    assert custom_messages(sandbox_url, ZHANG) == []
    [queued] = notifications(app)
    assert queued.status is DeliveryStatus.INBOX_ONLY and queued.channel is Channel.CUSTOMER_SERVICE
    # A staff answer to their ticket after they left: the inbox only, never WeChat.
    ticket_id = in_app(app, lambda: db.session.scalar(sa.select(BotTicket.id)))
    answered = client.post(f"/api/v1/guides/tickets/{ticket_id}/answer",
                           headers=people["demo-staff"], json={"answer": "请到服务大厅办理"})
    assert answered.status_code == 200, answered.get_json()
    wait_deferred(app)
    assert custom_messages(sandbox_url, ZHANG) == []
    templates = requests.get(sandbox_url + "sandbox/messages?kind=template", timeout=5).json()
    assert templates["count"] == 0
    assert any("请到服务大厅办理" in text for text in inbox_texts(client, people["demo-resident"]))
    assert notifications(app)[-1].status is DeliveryStatus.INBOX_ONLY
    # Following again (another event: another CreateTime): customer-service messages again.
    assert "欢迎关注" in bot.send(ZHANG, "event", event="subscribe", create_time=int(time.time()) + 5)
    late_answer(app, bot)
    wait_deferred(app)
    assert len(custom_messages(sandbox_url, ZHANG)) == 1 and "余额" in custom_messages(sandbox_url, ZHANG)[0]


def test_outside_48_hours_without_a_template_the_answer_is_in_the_inbox(app, client, world,
                                                                       people, bot, sandbox,
                                                                       sandbox_url):
    bot.event(ZHANG, "subscribe")
    late_answer(app, bot)
    sandbox.fault("cgi-bin/message/custom/send", errcode=45015)
    app.config["WECHAT_MP_TEMPLATES"] = {}  # no template message configured for bot_reply
    try:
        wait_deferred(app)
    finally:
        app.config["WECHAT_MP_TEMPLATES"] = None
    [row] = notifications(app)
    assert row.status is DeliveryStatus.INBOX_ONLY and row.channel is Channel.INBOX
    assert "45015" in row.last_error
    assert requests.get(sandbox_url + "sandbox/messages?kind=template", timeout=5).json()["count"] == 0
    assert any("余额" in text for text in inbox_texts(client, people["demo-resident"]))


def test_outside_48_hours_and_the_template_refused_too_it_stays_in_the_inbox(
        app, client, world, people, bot, sandbox, sandbox_url):
    bot.event(ZHANG, "subscribe")
    late_answer(app, bot)
    sandbox.fault("cgi-bin/message/custom/send", errcode=45015)
    sandbox.fault("cgi-bin/message/template/send", errcode=40003)  # refused for good
    wait_deferred(app)
    in_app(app, dispatch.drain)  # the template fallback is due at once
    [row] = notifications(app)
    assert row.channel is Channel.TEMPLATE and row.status is DeliveryStatus.FAILED
    assert custom_messages(sandbox_url, ZHANG) == []
    assert any("余额" in text for text in inbox_texts(client, people["demo-resident"]))


def test_a_rate_limited_message_is_answered_and_changes_nothing(app, world, people, categories,
                                                              bot):
    app.config["BOT_RATELIMIT"] = "2 per minute"
    try:
        bot.event(ZHANG, "subscribe")
        assert "请选择问题类别" in bot.say(ZHANG, "1")
        assert bot.say(ZHANG, "1") == "您发送得太快了，请稍等一会儿再试。"  # the third
    finally:
        app.config["BOT_RATELIMIT"] = "30 per minute"
    session = in_app(app, lambda: db.session.get(BotSession, ZHANG))
    assert session.flow == "report" and session.step == "category"  # not moved on
    assert in_app(app, lambda: db.session.scalar(
        sa.select(sa.func.count()).select_from(BotInbound))) == 2
