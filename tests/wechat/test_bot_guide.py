"""办事指南 through the bot: confident answers, "您是不是想问", gaps and 人工 tickets, for
bound and unbound followers."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import BotSession, BotTicket, GuideEntry, GuideGap
from app.models.base import utcnow
from app.services.demo.guides import ENTRIES
from app.services.guides import matching
from tests.helpers import in_app

ZHANG = "mp-demo-resident"


@pytest.fixture
def catalog(app, world):
    def work():
        for title, synonyms, answer, materials, hours, place, department in ENTRIES:
            db.session.add(GuideEntry(community_id=world["community"], title=title,
                                      synonyms=synonyms, answer=answer, materials=materials,
                                      hours=hours, place=place, department=department,
                                      updated_on=utcnow().date(), active=True))
        db.session.commit()
    in_app(app, work)
    matching.forget()
    yield
    matching.forget()


def test_a_confident_question_gets_the_answer(world, people, catalog, bot):
    answer = bot.say(ZHANG, "我妈满六十了老年证在哪办")
    assert answer.startswith("【老年证办理】")
    assert "所需材料：身份证原件" in answer and "办理地点：" in answer and "信息更新于" in answer


def test_an_unsure_question_offers_three_numbered(app, world, people, catalog, bot):
    answer = bot.say(ZHANG, "补贴")
    assert answer.startswith("您是不是想问")
    lines = [line for line in answer.splitlines() if line[:2] in ("1 ", "2 ", "3 ")]
    assert len(lines) == 3
    chosen = bot.say(ZHANG, "2")
    assert chosen.startswith(f"【{lines[1][2:]}】")
    assert in_app(app, lambda: db.session.get(BotSession, ZHANG)).flow is None


def test_nothing_found_records_a_gap_and_offers_a_person(app, world, people, catalog, bot):
    answer = bot.say(ZHANG, "暖气费怎么交")
    assert "没有找到" in answer and "回复 1" in answer
    gap = in_app(app, lambda: db.session.scalar(sa.select(GuideGap)))
    assert gap.question == "暖气费怎么交" and gap.community_id == world["community"]
    assert "工单" in bot.say(ZHANG, "1")
    ticket = in_app(app, lambda: db.session.scalar(sa.select(BotTicket)))
    assert ticket.question == "暖气费怎么交"


def test_none_of_the_suggestions_records_a_gap_and_asks_for_a_person(app, world, people,
                                                                    catalog, bot):
    assert bot.say(ZHANG, "补贴").startswith("您是不是想问")
    assert "说明您的问题" in bot.say(ZHANG, "0")
    gap = in_app(app, lambda: db.session.scalar(sa.select(GuideGap)))
    assert gap.question == "补贴" and gap.best_entry_id is not None


def test_a_new_question_instead_of_a_choice_is_answered(world, people, catalog, bot):
    assert bot.say(ZHANG, "补贴").startswith("您是不是想问")
    assert bot.say(ZHANG, "身份证丢了怎么补").startswith("【身份证办理】")


def test_an_unbound_follower_asks_and_gets_a_staff_answer_later(app, client, world, people,
                                                                 catalog, bot):
    stranger = "mp-newcomer"
    compound = world["compounds"]["虹桥小区"]
    bot.event(stranger, "subscribe", f"qrscene_compound-{compound}")
    assert bot.say(stranger, "孩子刚出生怎么上户口").startswith("【新生儿落户】")
    assert "说明您的问题" in bot.say(stranger, "0")
    assert "工单" in bot.say(stranger, "楼下广场舞太吵")
    ticket = in_app(app, lambda: db.session.scalar(sa.select(BotTicket)))
    assert ticket.user_id is None and ticket.community_id == world["community"]
    response = client.post(f"/api/v1/guides/tickets/{ticket.id}/answer",
                           headers=people["demo-staff"], json={"answer": "已联系网格员劝导"})
    assert response.status_code == 200
    later = bot.say(stranger, "你好")
    assert "已联系网格员劝导" in later and "1 报事" in later
    assert "已联系网格员劝导" not in bot.say(stranger, "你好")  # once


def test_a_deleted_entry_is_no_longer_answered(world, people, catalog, bot, client):
    entry = client.get("/api/v1/guides?limit=100", headers=people["demo-staff"]).get_json()["items"]
    target = next(e for e in entry if e["title"] == "养犬登记")
    assert bot.say(ZHANG, "养狗要办证吗").startswith("【养犬登记】")
    assert client.delete(f"/api/v1/guides/{target['id']}", headers=people["demo-staff"]).status_code == 204
    assert not (bot.say(ZHANG, "养狗要办证吗") or "").startswith("【养犬登记】")
