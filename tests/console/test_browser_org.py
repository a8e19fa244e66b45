"""Editing a household in real Chromium from two browser contexts (two staff desks): the
second save, made on a page opened before the first save, is refused with "已被他人修改" and
changes nothing; the page then shows what the other desk saved, and saving again works."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import CareTag, Household, HouseholdTag
from tests.console.test_browser import sign_in
from tests.helpers import in_app


def household_state(app, household_id: int) -> tuple:
    def read():
        head = db.session.scalar(sa.select(Household.head_name).where(Household.id == household_id))
        tags = sorted(t.value for t in db.session.scalars(
            sa.select(HouseholdTag.tag).where(HouseholdTag.household_id == household_id)))
        return head, tags
    return in_app(app, read)


def test_two_desks_edit_one_household_in_chromium(app, browser, app_url, people, world):
    building = world["buildings"][("虹桥小区", "1号楼")]
    household_id = in_app(app, lambda: db.session.scalar(sa.select(Household.id).where(
        Household.building_id == building, Household.unit == "1", Household.room == "101")))
    staff = sign_in(browser, app_url, people["demo-staff"])
    worker = sign_in(browser, app_url, people["demo-grid-worker"])
    url = f"{app_url}/console/households/{household_id}"
    # Both open the edit page; the grid worker finds it through the roster.
    staff.page.goto(url)
    worker.page.goto(f"{app_url}/console/org/compounds/{world['compounds']['虹桥小区']}"
                     f"/households?building={building}")
    worker.page.locator(f'tr.household[data-id="{household_id}"] a').click()
    worker.page.wait_for_url(url, timeout=10_000)

    staff.page.fill("input[name=head_name]", "张桂兰")
    staff.page.check(f"input[name=tags][value={CareTag.HARDSHIP.value}]")
    staff.page.click("#edit-household button[type=submit]")
    staff.page.wait_for_selector(".flash.ok", timeout=10_000)
    assert "住户信息已保存" in staff.page.locator(".flash.ok").inner_text()
    assert household_state(app, household_id) == ("张桂兰", ["hardship"])

    # The worker's page still carries the old version.
    worker.page.fill("input[name=head_name]", "张阿姨家")
    worker.page.check(f"input[name=tags][value={CareTag.LIVING_ALONE.value}]")
    with worker.page.expect_response(lambda r: r.request.method == "POST") as answer:
        worker.page.click("#edit-household button[type=submit]")
    assert answer.value.status == 409
    worker.page.wait_for_selector(".flash.error", timeout=10_000)
    assert "已被他人修改" in worker.page.locator(".flash.error").inner_text()
    assert household_state(app, household_id) == ("张桂兰", ["hardship"])  # nothing changed
    # The page now shows the other desk's data; saving from it goes through.
    assert worker.page.input_value("input[name=head_name]") == "张桂兰"
    assert worker.page.is_checked(f"input[name=tags][value={CareTag.HARDSHIP.value}]")
    worker.page.check(f"input[name=tags][value={CareTag.LIVING_ALONE.value}]")
    worker.page.click("#edit-household button[type=submit]")
    worker.page.wait_for_selector(".flash.ok", timeout=10_000)
    assert household_state(app, household_id) == ("张桂兰", ["hardship", "living_alone"])
    assert staff.clean(), (staff.blocked, staff.errors)
    # Chromium reports the 409 page load in its console; nothing else went wrong.
    assert worker.blocked == [] and [e for e in worker.errors if "409" not in e] == []
    assert len(worker.errors) == 1
    for desk in (staff, worker):
        desk.context.close()
