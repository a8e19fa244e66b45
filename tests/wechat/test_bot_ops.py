"""Running the bot: `flask wechat menu`, the `bot-deferred` job for messages whose thread
died, the sandbox's callback simulator over HTTP, and the demo seed's catalog and follower."""
from __future__ import annotations

from datetime import timedelta

import requests
import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.jobs import get_job
from app.jobs.runner import run_job
from app.models import BotInbound, BotSession, GuideEntry, User
from app.models.base import utcnow
from app.models.bot import InboundStatus
from app.services.demo.guides import ENTRIES
from tests.fixtures.bot import custom_messages, wait_deferred
from tests.helpers import in_app, serving

ZHANG = "mp-demo-resident"


def test_flask_wechat_menu_creates_the_menu_in_the_sandbox(app, sandbox_url):
    result = app.test_cli_runner().invoke(args=["wechat", "menu"])
    assert result.exit_code == 0, result.output
    assert "menu created: 3 buttons" in result.output
    sent = requests.get(sandbox_url + "sandbox/messages?kind=menu", timeout=5).json()["items"]
    keys = {b["key"] for top in sent[0]["body"]["button"] for b in top["sub_button"]}
    assert keys == {"REPORT", "STATUS", "GUIDE", "CANTEEN", "NOTICE", "WISHES", "POINTS", "HUMAN"}


def test_flask_wechat_menu_reports_a_refusal(app, sandbox):
    sandbox.fault("cgi-bin/menu/create", errcode=40018)
    result = app.test_cli_runner().invoke(args=["wechat", "menu"])
    assert result.exit_code != 0 and "40018" in result.output


def test_the_job_runs_a_queued_message_whose_thread_died(app, world, people, categories, bot,
                                                         sandbox_url):
    bot.event(ZHANG, "subscribe")
    for text in ("1", "1", "门口垃圾没人清理"):
        bot.say(ZHANG, text)
    app.config["BOT_DEFERRED_THREADS"] = 0  # as if the process died right after answering
    try:
        assert bot.send(ZHANG, "image", media_id="sandbox-jpeg-9") is None
    finally:
        app.config["BOT_DEFERRED_THREADS"] = 2
    queued = in_app(app, lambda: db.session.scalar(sa.select(BotInbound).where(
        BotInbound.status == InboundStatus.QUEUED)))
    assert queued is not None
    assert in_app(app, lambda: run_job(get_job("bot-deferred"), "test", dry_run=True)) == {"due": 0}
    with time_machine.travel(utcnow() + timedelta(minutes=2)):
        result = in_app(app, lambda: run_job(get_job("bot-deferred"), "test"))
        wait_deferred(app)  # the answer is due at the job's (travelled) time
    assert result == {"done": 1}
    assert "照片已收到" in custom_messages(sandbox_url, ZHANG)[-1]
    assert in_app(app, lambda: db.session.get(BotSession, ZHANG)).step == "location"
    again = in_app(app, lambda: run_job(get_job("bot-deferred"), "test"))
    assert not again.get("done")


def test_a_message_cancelled_while_queued_changes_nothing(app, world, people, categories, bot,
                                                          sandbox_url):
    bot.event(ZHANG, "subscribe")
    for text in ("1", "1", "门口垃圾没人清理"):
        bot.say(ZHANG, text)
    app.config["BOT_DEFERRED_THREADS"] = 0
    try:
        bot.send(ZHANG, "image", media_id="sandbox-jpeg-9")
        assert "请稍候" in bot.say(ZHANG, "跳过")
        assert "已取消" in bot.say(ZHANG, "取消")
    finally:
        app.config["BOT_DEFERRED_THREADS"] = 2
    with time_machine.travel(utcnow() + timedelta(minutes=2)):
        in_app(app, lambda: run_job(get_job("bot-deferred"), "test"))
    wait_deferred(app)
    assert custom_messages(sandbox_url, ZHANG) == []
    session = in_app(app, lambda: db.session.get(BotSession, ZHANG))
    assert session.flow is None and not session.data


def test_the_simulator_endpoint_signs_encrypts_and_posts(app, world, sandbox_url):
    from tests.fixtures.bot import AES_KEY

    app.config["WECHAT_AES_KEY"] = AES_KEY
    try:
        with serving(app, "/wechat/callback") as url:
            answer = requests.post(sandbox_url + "sandbox/send-to-callback", timeout=10, json={
                "url": url, "encrypt": True, "aes_key": AES_KEY,
                "message": {"openid": "mp-sim", "content": "你好"}}).json()
            bad = requests.post(sandbox_url + "sandbox/send-to-callback", timeout=10, json={
                "url": url, "token": "wrong", "message": {"openid": "mp-sim", "content": "你好"}})
    finally:
        app.config["WECHAT_AES_KEY"] = None
    [first] = answer["tries"]
    assert first["status"] == 200 and "1 报事" in first["body"]  # decrypted by the simulator
    assert [t["status"] for t in bad.json()["tries"]] == [403, 403, 403]  # WeChat retries


def test_demo_seed_has_the_catalog_and_a_bound_follower(app):
    from app.services.demo.seed import seed_demo

    in_app(app, seed_demo)
    in_app(app, seed_demo)  # idempotent
    titles = in_app(app, lambda: list(db.session.scalars(sa.select(GuideEntry.title))))
    assert len(titles) == len(ENTRIES) >= 30 and {"低保申请", "医保缴费", "残疾证办理"} <= set(titles)
    user = in_app(app, lambda: db.session.scalar(sa.select(User).where(User.openid == "demo-resident")))
    assert user.mp_openid == ZHANG and user.mp_following
    session = in_app(app, lambda: db.session.get(BotSession, ZHANG))
    assert session.user_id == user.id
