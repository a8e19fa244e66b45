"""The work queues in real Chromium (Debian's, through Playwright), on a network that
reaches only the app: a member of the community's staff signs in through the QR flow (the
test plays the mini-program's approve call), opens the canteen page from the navigation,
publishes a draft meal, then answers a bot hand-off (人工 ticket) from the bot page; the
database and the outbox show both."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app import timeutil
from app.extensions import db
from app.models import BotTicket, Meal, MealState, Notification
from app.models.bot import TicketStatus
from tests.console.test_browser import sign_in
from tests.fixtures.canteen import make_canteen, make_meal
from tests.helpers import in_app


def test_publish_a_meal_and_answer_a_hand_off_in_chromium(app, browser, app_url, people, world):
    tomorrow = timeutil.today() + timedelta(days=1)
    canteen = make_canteen(app, world["community"])
    draft = make_meal(app, canteen, day=tomorrow, state=MealState.DRAFT)

    def open_ticket():
        ticket = BotTicket(openid="oa-zhang", user_id=world["users"]["demo-resident"],
                           community_id=world["community"], question="老年卡怎么办？")
        db.session.add(ticket)
        db.session.commit()
        return ticket.id
    ticket = in_app(app, open_ticket)

    watched = sign_in(browser, app_url, people["demo-staff"])
    page = watched.page
    page.click("nav >> text=食堂菜单")
    page.wait_for_selector("h1:text('食堂菜单')", timeout=10_000)
    page.goto(f"{app_url}/console/canteen?canteen_id={canteen}&week={tomorrow.isoformat()}")
    row = page.locator(f'tr.meal[data-id="{draft}"]')
    assert row.get_attribute("data-state") == "draft"
    row.locator("form.publish button").click()
    page.wait_for_selector(".flash.ok", timeout=10_000)
    assert "已发布" in page.locator(".flash.ok").inner_text()
    row = page.locator(f'tr.meal[data-id="{draft}"]')
    assert row.get_attribute("data-state") == "published"
    assert row.locator("form.publish").count() == 0
    assert in_app(app, lambda: db.session.get(Meal, draft).state) is MealState.PUBLISHED

    page.click("nav >> text=服务号咨询")
    page.wait_for_selector("h1:text('服务号咨询')", timeout=10_000)
    box = page.locator(f'tr.ticket[data-id="{ticket}"] textarea[name=answer]')
    box.fill("带身份证和户口本到社区服务站办理。")
    page.locator(f'tr.ticket[data-id="{ticket}"] form.answer button').click()
    page.wait_for_selector(".flash.ok", timeout=10_000)
    assert f"工单 #{ticket}：已答复，已发送给居民" in page.locator(".flash.ok").inner_text()
    assert page.locator(f'tr.ticket[data-id="{ticket}"]').count() == 0

    def answered():
        row = db.session.get(BotTicket, ticket)
        sent = db.session.scalars(sa.select(Notification.payload).where(
            Notification.dedupe_key == f"bot:ticket:{ticket}:answer")).all()
        return row.status, row.answer, sent
    status, answer, sent = in_app(app, answered)
    assert status is TicketStatus.ANSWERED and answer == "带身份证和户口本到社区服务站办理。"
    assert len(sent) == 1 and "带身份证和户口本到社区服务站办理。" in sent[0]["text"]
    assert watched.clean(), (watched.blocked, watched.errors)
