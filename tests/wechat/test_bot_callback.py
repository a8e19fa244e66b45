"""The callback's wire: echostr, signatures (plain and safe mode), malformed XML, every
message and event type, retries answered once, never a 500."""
from __future__ import annotations

import sqlalchemy as sa
import xmltodict
from wechatpy.crypto import WeChatCrypto

from app.extensions import db
from app.models import BotInbound, BotSession, User
from app.wechat.sandbox import message_xml, signed_query
from tests.fixtures.bot import APPID, TOKEN
from tests.helpers import in_app

STRANGER = "mp-stranger"


def inbound_count(app) -> int:
    return in_app(app, lambda: db.session.scalar(sa.select(sa.func.count()).select_from(BotInbound)))


def test_echostr_answers_the_server_check(client):
    query = signed_query(TOKEN, "1764633600", "abc", echostr="hello-123")
    response = client.get("/wechat/callback?" + query)
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "hello-123"


def test_echostr_with_a_bad_signature_is_403(client):
    query = signed_query("wrong-token", "1764633600", "abc", echostr="hello-123")
    response = client.get("/wechat/callback?" + query)
    assert response.status_code == 403
    assert "hello-123" not in response.get_data(as_text=True)


def test_a_bad_signature_is_403_and_nothing_is_processed(app, bot):
    response = bot.post(message_xml(STRANGER, content="你好"), token="wrong-token")
    assert response.status_code == 403
    assert not response.is_json
    assert inbound_count(app) == 0
    assert in_app(app, lambda: db.session.get(BotSession, STRANGER)) is None


def test_no_signature_at_all_is_403(app, client):
    response = client.post("/wechat/callback", data=message_xml(STRANGER, content="你好"))
    assert response.status_code == 403
    assert inbound_count(app) == 0


def test_malformed_xml_answers_success_and_logs(app, bot, caplog):
    for body in ("<xml><FromUserName>x</FromUserName", "not xml at all", "<xml></xml>",
                 "<xml><FromUserName>a</FromUserName><MsgType>location</MsgType>"
                 "<Location_X>abc</Location_X></xml>",
                 '<!DOCTYPE x [<!ENTITY e "boom">]><xml><FromUserName>&e;</FromUserName></xml>'):
        response = bot.post(body)
        assert response.status_code == 200
        assert response.get_data(as_text=True) == "success"
    assert inbound_count(app) == 0
    assert "malformed message" in caplog.text
    assert "boom" not in caplog.text


def test_a_text_reply_is_wechat_xml_addressed_back(bot):
    response = bot.post(message_xml(STRANGER, content="你好", account="gh_linli"))
    reply = xmltodict.parse(response.get_data(as_text=True))["xml"]
    assert reply["ToUserName"] == STRANGER
    assert reply["FromUserName"] == "gh_linli"
    assert reply["MsgType"] == "text"
    assert "1 报事" in reply["Content"]
    assert response.mimetype == "application/xml"


def test_safe_mode_decrypts_and_encrypts_the_reply(app, safe_bot):
    response = safe_bot.post(message_xml(STRANGER, content="你好"))
    body = response.get_data(as_text=True)
    assert "<Encrypt>" in body and "报事" not in body  # the reply is encrypted
    assert "1 报事" in safe_bot.text_of(response)
    assert inbound_count(app) == 1


def test_safe_mode_checks_msg_signature_not_signature(app, safe_bot):
    xml = message_xml(STRANGER, content="你好")
    # A correct plain `signature` but a msg_signature that does not cover the body.
    response = safe_bot.post(xml, msg_signature="0" * 40)
    assert response.status_code == 403
    # A body encrypted with another key: the signature over it is ours, decrypting fails.
    other = WeChatCrypto(TOKEN, "Z" * 43, APPID).encrypt_message(xml, "n1", "1764633600")
    parsed = xmltodict.parse(other)["xml"]
    query = signed_query(TOKEN, "1764633600", "n1", encrypt_type="aes",
                         msg_signature=parsed["MsgSignature"])
    response = safe_bot.client.post("/wechat/callback?" + query, data=other.encode())
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "success"
    assert inbound_count(app) == 0


def test_safe_mode_with_a_wrong_token_is_403(app, safe_bot):
    response = safe_bot.post(message_xml(STRANGER, content="你好"), token="wrong-token")
    assert response.status_code == 403
    assert inbound_count(app) == 0


def test_the_same_message_three_times_is_answered_once(app, bot):
    xml = message_xml(STRANGER, content="你好", msg_id=424242)
    bodies = [bot.post(xml).get_data(as_text=True) for _ in range(3)]
    assert "报事" in bodies[0]
    assert bodies[1:] == ["success", "success"]
    assert inbound_count(app) == 1


def test_the_same_event_three_times_is_handled_once(app, bot):
    xml = message_xml(STRANGER, "event", event="subscribe", create_time=1764633600)
    bodies = [bot.post(xml).get_data(as_text=True) for _ in range(3)]
    assert "欢迎关注" in bodies[0]
    assert bodies[1:] == ["success", "success"]
    # Another event at another time is another delivery (never deduplicated by content).
    assert "欢迎关注" in bot.post(message_xml(STRANGER, "event", event="subscribe",
                                               create_time=1764633601)).get_data(as_text=True)
    assert inbound_count(app) == 2


def test_two_different_messages_with_the_same_text_are_both_answered(bot):
    assert "报事" in bot.say(STRANGER, "你好")
    assert "报事" in bot.say(STRANGER, "你好")


def test_voice_and_video_ask_for_text_or_pictures(bot):
    for kind in ("voice", "video", "shortvideo"):
        assert bot.send(STRANGER, kind, media_id="m1") == "请发文字或图片，暂时听不了语音、看不了视频。"


def test_links_images_and_locations_outside_a_flow_show_the_menu(bot):
    assert "1 报事" in bot.send(STRANGER, "link", title="t", url="http://x")
    assert "先回复 1" in bot.send(STRANGER, "image", media_id="sandbox-jpeg-1")
    assert "先回复 1" in bot.send(STRANGER, "location", lat=38.7, lng=111.5, label="x")


def test_events_without_an_answer_say_success(app, bot):
    for event in ("VIEW", "LOCATION", "TEMPLATESENDJOBFINISH"):
        assert bot.event(STRANGER, event, "x") is None
    assert inbound_count(app) == 3


def test_subscribe_welcomes_and_unsubscribe_stops(app, world, people, bot):
    assert "欢迎关注" in bot.event("mp-demo-resident", "subscribe")
    user = in_app(app, lambda: db.session.scalar(sa.select(User).where(User.openid == "demo-resident")))
    assert user.mp_openid == "mp-demo-resident" and user.mp_following
    assert bot.event("mp-demo-resident", "unsubscribe") is None
    user = in_app(app, lambda: db.session.get(User, user.id))
    assert not user.mp_following
    session = in_app(app, lambda: db.session.get(BotSession, "mp-demo-resident"))
    assert not session.following and session.user_id == user.id


def test_a_compounds_qr_code_preselects_it(app, world, bot):
    compound_id = world["compounds"]["盛世华城"]
    assert "欢迎关注" in bot.event(STRANGER, "subscribe", f"qrscene_compound-{compound_id}")
    session = in_app(app, lambda: db.session.get(BotSession, STRANGER))
    assert session.compound_id == compound_id
    assert "欢迎关注" in bot.event("mp-other", "SCAN", "compound-999999")
    assert in_app(app, lambda: db.session.get(BotSession, "mp-other")).compound_id is None


def test_the_database_down_answers_success(app, bot, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from app.wechat.bot import inbound

    def down(*_args, **_kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(inbound.sessions, "lock", down)
    response = bot.post(message_xml("mp-someone-known", content="你好"))
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "success"


def test_a_bug_anywhere_answers_success_never_500(app, bot, monkeypatch):
    from app.wechat.bot import router

    monkeypatch.setattr(router, "route", lambda turn: 1 / 0)
    response = bot.post(message_xml(STRANGER, content="你好"))
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "success"
    assert inbound_count(app) == 0  # rolled back: WeChat's retry runs it again


def test_flooding_is_rate_limited_per_follower(app, bot):
    app.config["BOT_RATELIMIT"] = "3 per minute"
    try:
        answers = [bot.say(STRANGER, "你好") for _ in range(4)]
        assert answers[3] == "您发送得太快了，请稍等一会儿再试。"
        assert "报事" in bot.say("mp-another", "你好")  # per follower
    finally:
        app.config["BOT_RATELIMIT"] = "30 per minute"
    assert inbound_count(app) == 4
