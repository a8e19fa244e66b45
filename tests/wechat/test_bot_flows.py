"""The bot's flows end to end over the callback: 报事 (the incident the API lists), cancel
and timeout mid-flow, the three-strikes fallback, 查进度, 查 123, 积分, 心愿, the unbound
follower, help and 人工 at every step."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.models import BotSession, BotTicket, Channel, Incident, Notification
from app.models.base import utcnow
from tests.fixtures.bot import custom_messages, wait_deferred
from tests.helpers import in_app

ZHANG = "mp-demo-resident"  # the follower of 张阿姨 (demo-resident)


def start_report(bot) -> None:
    assert "欢迎关注" in bot.event(ZHANG, "subscribe")
    prompt = bot.say(ZHANG, "1")
    assert "请选择问题类别" in prompt and "1 环境卫生" in prompt
    assert "描述" in bot.say(ZHANG, "2")  # 设施损坏
    assert "照片" in bot.say(ZHANG, "楼道灯坏了，晚上很黑")


def test_report_end_to_end_is_the_incident_the_api_lists(app, world, people, categories, bot,
                                                          client, sandbox_url):
    start_report(bot)
    assert bot.send(ZHANG, "image", media_id="sandbox-jpeg-1") is None  # deferred: success
    wait_deferred(app)
    assert "照片已收到" in custom_messages(sandbox_url, ZHANG)[-1]
    assert "用我家地址" in custom_messages(sandbox_url, ZHANG)[-1]
    summary = bot.say(ZHANG, "1")  # 用我家地址
    assert "设施损坏" in summary and "楼道灯坏了" in summary and "照片：1 张" in summary
    assert bot.say(ZHANG, "1") is None  # confirm: the filing (content check) is deferred
    wait_deferred(app)
    answer = custom_messages(sandbox_url, ZHANG)[-1]
    listed = client.get("/api/v1/incidents?scope=mine", headers=people["demo-resident"]).get_json()
    assert len(listed["items"]) == 1
    incident = listed["items"][0]
    assert f"编号 {incident['id']}" in answer and "前办结" in answer
    assert incident["description"] == "楼道灯坏了，晚上很黑"
    assert incident["category"]["code"] == "facility"
    assert incident["thumbnail_url"]  # the photo sent through WeChat is the report's
    assert incident["building"]["id"] == world["buildings"][("虹桥小区", "1号楼")]  # 用我家地址
    session = in_app(app, lambda: db.session.get(BotSession, ZHANG))
    assert session.flow is None  # done
    # 查进度 and 查 <id> show it.
    assert f"编号 {incident['id']}" in bot.say(ZHANG, "2")
    assert "设施损坏" in bot.say(ZHANG, f"查 {incident['id']}")


def test_report_with_a_location_message(app, world, people, categories, bot, sandbox_url):
    start_report(bot)
    assert "位置" in bot.say(ZHANG, "跳过")
    summary = bot.send(ZHANG, "location", lat=38.7046, lng=111.5, label="虹桥路8号")
    assert "虹桥路8号" in summary and "照片：无" in summary
    assert bot.say(ZHANG, "1") is None
    wait_deferred(app)
    assert "报事已提交" in custom_messages(sandbox_url, ZHANG)[-1]
    found = in_app(app, lambda: db.session.scalar(sa.select(Incident)))
    assert found.lat == 38.7046 and found.description == "楼道灯坏了，晚上很黑"


def test_risky_text_is_refused_with_the_services_message(app, world, people, categories, bot,
                                                          sandbox_url):
    bot.event(ZHANG, "subscribe")
    bot.say(ZHANG, "1")
    bot.say(ZHANG, "1")
    bot.say(ZHANG, "这里有违禁内容")
    bot.say(ZHANG, "跳过")
    bot.say(ZHANG, "1")
    assert bot.say(ZHANG, "1") is None
    wait_deferred(app)
    assert custom_messages(sandbox_url, ZHANG)[-1].startswith("报事未提交：内容含有违规信息")
    assert in_app(app, lambda: db.session.scalar(sa.select(sa.func.count()).select_from(Incident))) == 0


def test_cancel_mid_flow_files_nothing(app, world, people, categories, bot):
    start_report(bot)
    assert "已取消" in bot.say(ZHANG, "取消")
    assert in_app(app, lambda: db.session.get(BotSession, ZHANG)).flow is None
    assert "1 报事" in bot.say(ZHANG, "帮助")
    assert in_app(app, lambda: db.session.scalar(sa.select(sa.func.count()).select_from(Incident))) == 0


def test_a_flow_idle_for_ten_minutes_is_over(app, world, people, categories, bot):
    start_report(bot)
    with time_machine.travel(utcnow() + timedelta(minutes=11)):
        answer = bot.say(ZHANG, "查进度")
    assert "已超时" in answer and "还没有报过事" in answer
    assert in_app(app, lambda: db.session.get(BotSession, ZHANG)).flow is None


def test_help_at_a_step_keeps_the_flow_and_repeats_the_prompt(app, world, people, categories, bot):
    start_report(bot)
    answer = bot.say(ZHANG, "帮助")
    assert "当前步骤" in answer and "照片" in answer
    assert in_app(app, lambda: db.session.get(BotSession, ZHANG)).step == "photo"


def test_three_inputs_not_understood_offer_help_or_a_person(app, world, people, categories, bot):
    bot.event(ZHANG, "subscribe")
    bot.say(ZHANG, "1")
    assert "没有看懂" in bot.say(ZHANG, "九十九")
    assert "没有看懂" in bot.say(ZHANG, "42")
    third = bot.say(ZHANG, "随便")
    assert "帮助" in third and "人工" in third
    assert in_app(app, lambda: db.session.get(BotSession, ZHANG)).step == "category"


def test_human_at_any_step_opens_a_ticket(app, world, people, categories, bot, client, sandbox_url):
    start_report(bot)
    assert "说明您的问题" in bot.say(ZHANG, "人工")
    answer = bot.say(ZHANG, "我家暖气不热，找谁修")
    assert "工单" in answer
    ticket = in_app(app, lambda: db.session.scalar(sa.select(BotTicket)))
    assert ticket.question == "我家暖气不热，找谁修" and ticket.user_id is not None
    # Staff answer: a customer-service message to the bound follower.
    response = client.post(f"/api/v1/guides/tickets/{ticket.id}/answer",
                           headers=people["demo-staff"], json={"answer": "请拨打供热热线 12345"})
    assert response.status_code == 200, response.get_json()
    wait_deferred(app)
    assert "12345" in custom_messages(sandbox_url, ZHANG)[-1]


def test_points_and_wishes(app, world, people, points_history, published_wish, bot):
    bot.event(ZHANG, "subscribe")
    answer = bot.say(ZHANG, "积分")
    assert f"余额：{points_history['demo-resident']} 分" in answer
    published_wish(title="帮忙买米")
    assert "帮忙买米" in bot.say(ZHANG, "7")


def test_no_canteen_and_no_notice_yet(world, people, bot):
    assert bot.say(ZHANG, "5") == "该服务暂未开通，敬请期待。"
    assert bot.event(ZHANG, "CLICK", "NOTICE") == "本小区暂未发布公示。"


def test_todays_and_tomorrows_meals_with_seats_and_my_price(app, world, people, canteen, lunch,
                                                            bot):
    from datetime import timedelta

    from app.models import MealKind, MealState
    from tests.fixtures.canteen import DAY, make_meal

    make_meal(app, canteen, day=DAY + timedelta(days=1), kind=MealKind.DINNER,
              dishes=["饺子", "小米粥"], capacity=20)
    make_meal(app, canteen, day=DAY, kind=MealKind.DINNER, state=MealState.DRAFT,
              dishes=["草稿菜"])
    answer = bot.say(ZHANG, "菜单")
    assert "示范社区长者食堂菜单" in answer
    today, tomorrow = answer.split("【明天】")
    assert "午餐：红烧肉、清炒时蔬、米饭｜余 50 份｜我的价格 15.00 元" in today
    assert "草稿菜" not in answer  # drafts are the staff's
    assert "晚餐：饺子、小米粥｜余 20 份" in tomorrow


def test_someone_elses_incident_is_not_shown(app, world, people, categories, make_incident, bot):
    bot.event(ZHANG, "subscribe")
    theirs = make_incident(reporter="demo-resident-3", category="dispute")
    assert "没有找到" in bot.say(ZHANG, f"查 {theirs}")
    assert "还没有报过事" in bot.say(ZHANG, "查进度")


def test_the_bot_worker_runs_what_web_processes_left_to_it(app, world, people, categories,
                                                           bot, sandbox_url):
    """Web processes with BOT_DEFERRED_THREADS=0 only queue the photo and answer `success`;
    the bot worker (`flask wechat bot-worker`, `deferred.work`) downloads it and answers,
    once however often it runs."""
    from app.models.bot import BotInbound, InboundStatus
    from app.services.notifications import dispatch
    from app.wechat.bot import deferred

    start_report(bot)
    app.config["BOT_DEFERRED_THREADS"] = 0
    try:
        assert bot.send(ZHANG, "image", media_id="sandbox-jpeg-1") is None  # success
    finally:
        app.config["BOT_DEFERRED_THREADS"] = 2

    def statuses():
        return list(db.session.scalars(sa.select(BotInbound.status)
                                       .where(BotInbound.openid == ZHANG)))
    assert InboundStatus.QUEUED in in_app(app, statuses)  # nobody ran it in the web process
    assert in_app(app, lambda: deferred.work(until_empty=True)) == {"done": 1}
    assert in_app(app, lambda: deferred.work(until_empty=True)) == {}
    assert InboundStatus.QUEUED not in in_app(app, statuses)
    in_app(app, lambda: dispatch.run(until_empty=True))
    answers = [m for m in custom_messages(sandbox_url, ZHANG) if "照片已收到" in m]
    assert len(answers) == 1
    session = in_app(app, lambda: db.session.get(BotSession, ZHANG))
    assert session.step == "location" and len(session.data["photo_ids"]) == 1


def test_an_unbound_follower_gets_the_link_and_can_still_ask(app, world, bot):
    assert "欢迎关注" in bot.event("mp-nobody", "subscribe")
    for command in ("1", "2", "3", "5", "6", "7"):
        answer = bot.say("mp-nobody", command)
        assert "绑定住址" in answer and "data-miniprogram-appid" in answer
    assert "1 报事" in bot.say("mp-nobody", "帮助")  # the menus still work
    assert "说明您的问题" in bot.say("mp-nobody", "人工")
    assert in_app(app, lambda: db.session.get(BotSession, "mp-nobody")).user_id is None


def test_an_unbound_follower_from_a_compound_qr_reads_the_menu_at_the_base_price(
        app, world, canteen, lunch, bot):
    """The catalog and the canteen's menus are open to a follower not yet bound whose QR
    code named a compound: no booking and no subsidy (both need a verified household)."""
    stranger = "mp-qr-stranger"
    assert "绑定住址" in bot.say("mp-nobody", "5")  # no compound known: only the link
    compound = world["compounds"]["虹桥小区"]
    bot.event(stranger, "subscribe", f"qrscene_compound-{compound}")
    answer = bot.say(stranger, "5")
    assert "示范社区长者食堂菜单" in answer
    assert "午餐：红烧肉、清炒时蔬、米饭｜余 50 份｜价格 15.00 元" in answer
    assert "我的价格" not in answer and "需先绑定住址" in answer and "data-miniprogram-appid" in answer


def test_a_follower_who_logs_in_later_is_bound_at_the_next_message(app, world, bot, client):
    assert "绑定住址" in bot.say(ZHANG, "积分")
    client.post("/api/v1/auth/login", json={"code": "sandbox:demo-resident"})
    assert "余额" in bot.say(ZHANG, "积分")


def test_a_late_passive_answer_goes_as_a_customer_service_message(app, world, people, bot,
                                                                   sandbox_url):
    bot.event(ZHANG, "subscribe")
    app.config["BOT_REPLY_SECONDS"] = 0
    try:
        assert bot.say(ZHANG, "积分") is None
    finally:
        app.config["BOT_REPLY_SECONDS"] = 4.0
    wait_deferred(app)
    assert "余额" in custom_messages(sandbox_url, ZHANG)[-1]


def test_safe_mode_flow(app, world, people, categories, safe_bot):
    safe_bot.event(ZHANG, "subscribe")
    assert "请选择问题类别" in safe_bot.say(ZHANG, "1")


def test_outside_48_hours_falls_back_to_a_template_message(app, world, people, bot, sandbox,
                                                          sandbox_url):
    import requests

    bot.event(ZHANG, "subscribe")
    app.config["BOT_REPLY_SECONDS"] = 0
    try:
        bot.say(ZHANG, "积分")
    finally:
        app.config["BOT_REPLY_SECONDS"] = 4.0
    sandbox.fault("cgi-bin/message/custom/send", errcode=45015)
    wait_deferred(app)
    templates = requests.get(sandbox_url + "sandbox/messages?kind=template", timeout=5).json()
    assert templates["count"] == 1 and templates["items"][0]["body"]["touser"] == ZHANG
    row = in_app(app, lambda: db.session.scalar(sa.select(Notification)))
    assert row.channel is Channel.TEMPLATE


def test_over_the_quota_is_not_retried(app, world, people, bot, sandbox):
    from app.models import DeliveryStatus

    bot.event(ZHANG, "subscribe")
    app.config["BOT_REPLY_SECONDS"] = 0
    try:
        bot.say(ZHANG, "积分")
    finally:
        app.config["BOT_REPLY_SECONDS"] = 4.0
    sandbox.fault("cgi-bin/message/custom/send", errcode=45047)
    wait_deferred(app)
    row = in_app(app, lambda: db.session.scalar(sa.select(Notification)))
    assert row.status is DeliveryStatus.FAILED and row.attempts == 1


def test_a_photo_wechat_cannot_give_asks_again(app, world, people, categories, bot, sandbox_url):
    start_report(bot)
    assert bot.send(ZHANG, "image", media_id="expired-media-id") is None  # sandbox: 40007
    wait_deferred(app)
    assert "照片下载失败" in custom_messages(sandbox_url, ZHANG)[-1]
    assert in_app(app, lambda: db.session.get(BotSession, ZHANG)).step == "photo"
    assert "位置" in bot.say(ZHANG, "跳过")


def test_booking_a_meal_by_message(app, world, people, canteen, lunch, bot, client, clock):
    from tests.fixtures.canteen import CUTOFF, bookings_of

    menu = bot.say(ZHANG, "订餐")
    assert "1 今天午餐：红烧肉、清炒时蔬、米饭｜15.00 元" in menu
    assert "预订 今天午餐" in bot.say(ZHANG, "1")
    done = bot.say(ZHANG, "1")
    assert done.startswith("预订成功！取餐码 ")
    [booked] = bookings_of(app, lunch)
    assert booked.pickup_code in done and booked.quantity == 1
    mine = client.get("/api/v1/bookings", headers=people["demo-resident"]).get_json()
    assert [b["id"] for b in mine["items"]] == [booked.id]  # the API's own booking
    # A second one is refused by the service's own rule; after the cutoff nothing is offered.
    bot.say(ZHANG, "订餐")
    bot.say(ZHANG, "1")
    assert bot.say(ZHANG, "1").startswith("预订未成功：")
    assert len(bookings_of(app, lunch)) == 1
    clock.move_to(CUTOFF)
    assert bot.say(ZHANG, "订餐") == "今天和明天暂时没有可预订的餐。"


def test_the_cutoff_passing_between_choice_and_confirm_is_refused(app, world, people, canteen,
                                                                  bot, clock):
    from tests.fixtures.canteen import DAY, at, bookings_of, make_meal

    breakfast = make_meal(app, canteen, cutoff=(8, 5), window=((8, 30), (9, 0)))
    bot.say(ZHANG, "订餐")
    assert "前可订" in bot.say(ZHANG, "1")
    clock.move_to(at(DAY, 8, 5))  # the cutoff, within the conversation's 10 idle minutes
    answer = bot.say(ZHANG, "1")
    assert answer.startswith("预订未成功：") and "截止" in answer
    assert bookings_of(app, breakfast) == []
