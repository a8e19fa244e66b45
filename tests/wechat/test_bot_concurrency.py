"""WeChat's retries racing each other, over real HTTP with real threads (the session row
lock on PostgreSQL, the write lock on SQLite): the same message posted three times at once
is handled once and answered once; a report confirmed three times at once is one incident
and one customer-service message. Posted by the sandbox's callback simulator, signed (and
encrypted) as WeChat does."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import BotInbound, Incident
from app.wechat.sandbox import message_xml, post_to_callback
from tests.fixtures.bot import AES_KEY, custom_messages, wait_deferred
from tests.helpers import in_app, run_together, serving

ZHANG = "mp-demo-resident"


def count(app, model) -> int:
    return in_app(app, lambda: db.session.scalar(sa.select(sa.func.count()).select_from(model)))


def test_three_copies_at_once_are_answered_once(app, world, people):
    xml = message_xml(ZHANG, content="你好", msg_id=777001)
    with serving(app, "/wechat/callback") as url:
        results = run_together(3, lambda i: post_to_callback(url, xml, retries=1))
    bodies = [r[0]["body"] for r in results]
    assert [r[0]["status"] for r in results] == [200, 200, 200]
    assert bodies.count("success") == 2, bodies
    assert ["1 报事" in body for body in bodies].count(True) == 1
    assert count(app, BotInbound) == 1


def test_a_confirm_retried_three_times_at_once_is_one_incident(app, world, people, categories,
                                                              bot, sandbox_url):
    bot.event(ZHANG, "subscribe")
    for text in ("1", "1", "门口垃圾没人清理", "跳过", "1"):
        assert bot.say(ZHANG, text)
    confirm = message_xml(ZHANG, content="1", msg_id=777002)
    app.config["WECHAT_AES_KEY"] = AES_KEY
    try:
        with serving(app, "/wechat/callback") as url:
            results = run_together(3, lambda i: post_to_callback(
                url, confirm, aes_key=AES_KEY, retries=1))
            wait_deferred(app)
    finally:
        app.config["WECHAT_AES_KEY"] = None
    assert [r[0]["body"] for r in results] == ["success"] * 3
    assert count(app, Incident) == 1
    answers = [text for text in custom_messages(sandbox_url, ZHANG) if "报事已提交" in text]
    assert len(answers) == 1


def test_the_simulator_retries_like_wechat(app, world, people):
    """WeChat tries again when an answer does not come (here: a stopped server); each try
    carries the same message, so whichever arrives first is handled and the rest are
    `success`."""
    xml = message_xml(ZHANG, content="你好", msg_id=777003)
    with serving(app, "/wechat/callback") as url:
        pass
    assert [t.get("error") for t in post_to_callback(url, xml, retries=3, timeout=1)] == \
        ["ConnectionError"] * 3
    with serving(app, "/wechat/callback") as url:
        first = post_to_callback(url, xml)
        again = post_to_callback(url, xml)
    assert len(first) == 1 and "1 报事" in first[0]["body"]
    assert again == [{"status": 200, "body": "success"}]
