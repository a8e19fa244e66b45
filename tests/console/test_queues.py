"""The console's work queues over HTTP (Flask test client, a session signed in through the
QR flow): the canteen's week (plan, copy last week, publish, cancel) and kitchen sheet, the
feedback box's held notes, the notices overview, the departments' escalated incidents and
the bot's 人工 tickets and catalog gaps. Every page for every staff-side role, the scope
checks (another community's staff, another department, a resident), every action audited
and done through the API's services, bad input flashed in Chinese with nothing changed."""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    Booking,
    BookingState,
    BotTicket,
    CanteenFeedback,
    Community,
    Department,
    GuideGap,
    Incident,
    IncidentStatus,
    Meal,
    MealKind,
    MealState,
    Notification,
    Role,
    RoleGrant,
    ScopeKind,
    Street,
    User,
)
from tests.console.conftest import poll
from tests.console.test_signin import STAFF_SIDE
from tests.fixtures.canteen import DAY, make_meal, meal_row, messages
from tests.helpers import in_app, jpeg
from tests.routes.test_canteen_feedback import other_community

HELD_TEXT = "这条待审一下"  # the sandbox holds it for review
WEEK = f"week={DAY.isoformat()}"
# Who may open each page (the API's roles); everyone else of STAFF_SIDE gets a 403 page.
ALLOWED = {
    "/console/canteen": {"demo-canteen", "demo-staff", "demo-admin"},
    "/console/canteen/feedback": {"demo-canteen", "demo-staff", "demo-admin"},
    "/console/notices": {"demo-staff", "demo-admin"},
    "/console/escalations": {"demo-department", "demo-admin"},
    "/console/bot": {"demo-staff", "demo-admin"},
}
NAV = {"/console/canteen": "食堂菜单", "/console/canteen/feedback": "意见箱",
       "/console/notices": "周公示", "/console/escalations": "部门办件",
       "/console/bot": "服务号咨询"}


def ids(html: str, kind: str) -> set[int]:
    return {int(i) for i in re.findall(rf'class="{kind}[^"]*" data-id="(\d+)"', html)}


def flashes(html: str) -> list[str]:
    return re.findall(r'<p class="flash [a-z]+" role="alert">([^<]*)</p>', html)


@pytest.fixture
def sign_in_as(app, client, start_login):
    """A console session for any bearer headers (people outside the demo's twelve)."""
    def sign_in(headers):
        browser = app.test_client()
        nonce, csrf = start_login(browser)
        assert client.post("/api/v1/console/approve", headers=headers,
                           json={"nonce": nonce}).status_code == 200
        assert poll(browser, nonce, csrf).status_code == 204
        return browser
    return sign_in


@pytest.fixture
def post(csrf_of):
    """`post(browser, path, page=..., **form)`: a console form sent from `page` (its CSRF
    token and Referer), redirects followed; the final response."""
    def send(browser, path: str, page: str = "/console/", files=None, **form):
        token = csrf_of(browser, page)
        data = {"csrf_token": token, **form, **(files or {})}
        return browser.post(path, data=data, follow_redirects=True,
                            headers={"Referer": f"http://localhost{page}"})
    return send


def meals_of(app, canteen_id: int) -> list[tuple]:
    return in_app(app, lambda: [tuple(r) for r in db.session.execute(
        sa.select(Meal.day, Meal.kind, Meal.state).where(Meal.canteen_id == canteen_id)
        .order_by(Meal.day, Meal.id))])


# --- every page, every role ------------------------------------------------------------

def test_every_queue_page_for_every_staff_side_role(console_login, world, clock):
    for openid in STAFF_SIDE:
        browser = console_login(openid)
        for path, allowed in ALLOWED.items():
            page = browser.get(path)
            assert page.mimetype == "text/html" and "<html" in page.text, (openid, path)
            if openid in allowed:
                assert page.status_code == 200, (openid, path, page.text[:300])
            else:
                assert page.status_code == 403, (openid, path)
                assert 'data-status="403"' in page.text and '"code"' not in page.text
        nav = browser.get("/console/").text.split("<nav>")[1].split("</nav>")[0]
        for path, label in NAV.items():
            assert (f'href="{path}"' in nav) is (openid in ALLOWED[path]), (openid, path)
            assert (label in nav) is (openid in ALLOWED[path]), (openid, label)


def test_a_resident_never_gets_a_queue_page(app, client, people, start_login):
    browser = app.test_client()
    nonce, csrf = start_login(browser)
    refused = client.post("/api/v1/console/approve", headers=people["demo-resident"],
                          json={"nonce": nonce})
    assert refused.status_code == 403
    assert poll(browser, nonce, csrf).status_code == 200  # still waiting, never signed in
    for path in ALLOWED:
        response = browser.get(path)
        assert response.status_code == 302 and response.headers["Location"] == "/console/login"
    for path in ("/console/meals/1/publish", "/console/bot/gaps/1/resolve",
                 "/console/canteen-feedback/1/moderation", "/console/escalations/1"):
        assert browser.post(path, data={}).status_code == 302


# --- the canteen's week ----------------------------------------------------------------

@pytest.fixture
def week(app, canteen):
    """DAY's lunch (published), its dinner (a draft), Tuesday's lunch (draft)."""
    return {"lunch": make_meal(app, canteen),
            "dinner": make_meal(app, canteen, kind=MealKind.DINNER, state=MealState.DRAFT,
                                window=((17, 0), (19, 0)), cutoff=(15, 0)),
            "tuesday": make_meal(app, canteen, day=DAY + timedelta(days=1),
                                 state=MealState.DRAFT)}


def test_the_week_of_meals_for_its_staff_only(app, console_login, sign_in_as, auth, canteen,
                                              week):
    for openid in ("demo-canteen", "demo-staff", "demo-admin"):
        page = console_login(openid).get(f"/console/canteen?canteen_id={canteen}&{WEEK}")
        assert page.status_code == 200
        assert ids(page.text, "meal") == set(week.values()), openid
        assert f'data-week="{DAY.isoformat()}"' in page.text
        row = page.text.split(f'data-id="{week["dinner"]}"')[1].split("</tr>")[0]
        assert "草稿" in row and 'class="publish"' in row and 'class="cancel"' in row
        published = page.text.split(f'data-id="{week["lunch"]}"')[1].split("</tr>")[0]
        assert "可预订" in published and 'class="publish"' not in published
        assert "红烧肉、清炒时蔬、米饭" in published and "15.00" in published
    # Another community's staff see their own canteen, never ours.
    elsewhere = other_community(app)
    theirs = sign_in_as(auth("other-staff"))
    page = theirs.get(f"/console/canteen?{WEEK}")
    assert page.status_code == 200 and f'data-canteen="{elsewhere["canteen"]}"' in page.text
    assert ids(page.text, "meal") == set() and "示范社区长者食堂" not in page.text
    denied = theirs.get(f"/console/canteen?canteen_id={canteen}&{WEEK}")
    assert denied.status_code == 403 and "红烧肉" not in denied.text
    assert theirs.get(f"/console/meals/{week['lunch']}/kitchen").status_code == 403
    assert console_login("demo-staff").get("/console/canteen?canteen_id=999999"
                                           ).status_code == 404
    bad = console_login("demo-staff").get(f"/console/canteen?canteen_id={canteen}&week=someday")
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.text


def test_plan_a_meal_publish_and_cancel_it(app, console_login, post, audit_rows, world, canteen,
                                           book):
    browser = console_login("demo-canteen")
    page = f"/console/canteen?canteen_id={canteen}&{WEEK}"
    tuesday = (DAY + timedelta(days=1)).isoformat()
    done = post(browser, f"/console/canteen/{canteen}/meals", page=page, day=tuesday,
                kind="lunch", dishes="番茄炒蛋、清蒸鱼，米饭", capacity="40", price="12.5",
                cutoff_time="10:00", pickup_start="11:00", pickup_end="13:00")
    assert done.status_code == 200 and "已新建 12月08日午餐（草稿）" in flashes(done.text)[0]
    [meal_id] = ids(done.text, "meal")
    meal = meal_row(app, meal_id)
    assert (meal.state, meal.dishes, meal.capacity, meal.price_fen) == (
        MealState.DRAFT, ["番茄炒蛋", "清蒸鱼", "米饭"], 40, 1250)
    published = post(browser, f"/console/meals/{meal_id}/publish", page=page)
    assert "已发布" in flashes(published.text)[0]
    assert meal_row(app, meal_id).state is MealState.PUBLISHED
    again = post(browser, f"/console/meals/{meal_id}/publish", page=page)
    assert flashes(again.text) == ["当前状态为“可预订”，不能执行此操作"]
    # A resident books it; cancelling the meal cancels the booking and tells them.
    assert book("demo-resident", meal_id).status_code == 201
    no_reason = post(browser, f"/console/meals/{meal_id}/cancel", page=page, reason="  ")
    assert flashes(no_reason.text)[0].startswith("原因：")
    assert meal_row(app, meal_id).state is MealState.PUBLISHED
    cancelled = post(browser, f"/console/meals/{meal_id}/cancel", page=page, reason="停水检修")
    assert "已取消" in flashes(cancelled.text)[0]
    meal = meal_row(app, meal_id)
    assert meal.state is MealState.CANCELLED and meal.cancel_reason == "停水检修"
    assert in_app(app, lambda: db.session.scalar(sa.select(Booking.state).where(
        Booking.meal_id == meal_id))) is BookingState.CANCELLED
    [told] = messages(app, "canteen_meal_cancelled")
    assert told.user_id == world["users"]["demo-resident"] and told.payload["reason"] == "停水检修"
    rows = [(who, action, kind, target, after) for who, action, kind, target, _, after
            in audit_rows() if kind in ("meals", "canteens")]
    assert [r[:4] for r in rows] == [("demo-canteen", "meal_create", "meals", meal_id),
                                     ("demo-canteen", "meal_publish", "meals", meal_id),
                                     ("demo-canteen", "meal_cancel", "meals", meal_id)]
    assert rows[0][4]["day"] == tuesday and rows[0][4]["state"] == "draft"
    assert rows[2][4]["state"] == "cancelled" and rows[2][4]["cancel_reason"] == "停水检修"


GOOD_MEAL = {"kind": "dinner", "dishes": "面条", "capacity": "30", "price": "8",
             "cutoff_time": "15:00", "pickup_start": "17:00", "pickup_end": "18:30"}


@pytest.mark.parametrize("change, message", [
    ({"capacity": "abc"}, "份数："), ({"capacity": "0"}, "份数："),
    ({"capacity": "99999999999"}, "份数："), ({"price": "1.234"}, "价格："),
    ({"price": "-3"}, "价格："), ({"dishes": " 、 "}, "菜品："),
    ({"kind": "supper"}, "餐别："), ({"day": "2026-02-30"}, "日期："),
    ({"day": (DAY - timedelta(days=1)).isoformat()}, "不能为过去的日期排菜单"),
    ({"pickup_end": "16:00"}, "取餐结束时间应晚于开始时间"), ({"cutoff_time": "25:00"}, "截止时间："),
])
def test_a_bad_meal_is_flashed_and_nothing_is_stored(app, console_login, post, audit_rows,
                                                     canteen, clock, change, message):
    browser = console_login("demo-staff")
    page = f"/console/canteen?canteen_id={canteen}&{WEEK}"
    form = {"day": DAY.isoformat(), **GOOD_MEAL, **change}
    response = post(browser, f"/console/canteen/{canteen}/meals", page=page, **form)
    assert response.status_code == 200 and response.request.path == "/console/canteen"
    [shown] = flashes(response.text)
    assert message in shown, shown
    assert meals_of(app, canteen) == []
    assert [r for r in audit_rows() if r[2] == "meals"] == []


def test_another_communitys_staff_cannot_touch_our_meals(app, post, sign_in_as, auth, canteen,
                                                         week):
    other_community(app)
    theirs = sign_in_as(auth("other-staff"))
    page = "/console/canteen"
    assert flashes(post(theirs, f"/console/meals/{week['dinner']}/publish", page=page).text) \
        == ["餐次不存在"]  # a draft is not even seen
    assert flashes(post(theirs, f"/console/meals/{week['lunch']}/cancel", page=page,
                        reason="捣乱").text) == ["你不能对这条餐次执行此操作"]
    assert flashes(post(theirs, f"/console/canteen/{canteen}/meals", page=page,
                        day=DAY.isoformat(), **GOOD_MEAL).text) == ["没有权限进行此操作"]
    assert flashes(post(theirs, f"/console/canteen/{canteen}/copy-last-week", page=page,
                        week_start=(DAY + timedelta(days=7)).isoformat()).text) == [
        "没有权限进行此操作"]
    assert meals_of(app, canteen) == [(DAY, MealKind.LUNCH, MealState.PUBLISHED),
                                      (DAY, MealKind.DINNER, MealState.DRAFT),
                                      (DAY + timedelta(days=1), MealKind.LUNCH, MealState.DRAFT)]


def test_copy_last_week_into_the_next(app, console_login, post, audit_rows, canteen, week):
    browser = console_login("demo-staff")
    monday = DAY + timedelta(days=7)
    page = f"/console/canteen?canteen_id={canteen}&week={monday.isoformat()}"
    done = post(browser, f"/console/canteen/{canteen}/copy-last-week", page=page,
                week_start=monday.isoformat())
    assert flashes(done.text) == ["已复制上周菜单：新建 3 餐，跳过 0 餐"]
    copied = [m for m in meals_of(app, canteen) if m[0] >= monday]
    assert copied == [(monday, MealKind.LUNCH, MealState.DRAFT),
                      (monday, MealKind.DINNER, MealState.DRAFT),
                      (monday + timedelta(days=1), MealKind.LUNCH, MealState.DRAFT)]
    assert len(ids(done.text, "meal")) == 3  # the page shows the copied week
    again = post(browser, f"/console/canteen/{canteen}/copy-last-week", page=page,
                 week_start=monday.isoformat())
    assert flashes(again.text) == ["已复制上周菜单：新建 0 餐，跳过 3 餐"]
    wednesday = post(browser, f"/console/canteen/{canteen}/copy-last-week", page=page,
                     week_start=(monday + timedelta(days=2)).isoformat())
    assert flashes(wednesday.text) == ["已复制上周菜单：新建 0 餐，跳过 3 餐"]  # any day: its Monday
    [first, _, _] = [r for r in audit_rows() if r[1] == "meal_copy_week"]
    assert first[2:4] == ("canteens", canteen) and first[5]["skipped"] == 0
    assert len(first[5]["created"]) == 3


def test_the_kitchen_sheet_and_its_delivery_list(app, console_login, canteen, week, book):
    assert book("demo-resident", week["lunch"], quantity=2, delivery=True).status_code == 201
    assert book("demo-resident-2", week["lunch"]).status_code == 201
    kitchen = console_login("demo-canteen").get(f"/console/meals/{week['lunch']}/kitchen")
    assert kitchen.status_code == 200
    assert '<td class="n" data-k="portions">3</td>' in kitchen.text
    assert '<td class="n" data-k="delivery">2</td>' in kitchen.text
    assert '<td class="n" data-k="pickup">1</td>' in kitchen.text
    assert "虹桥小区1号楼1单元101室" in kitchen.text and 'id="kitchen-deliveries"' in kitchen.text
    assert 'data-frozen="0"' in kitchen.text
    staff = console_login("demo-staff").get(f"/console/meals/{week['lunch']}/kitchen")
    assert staff.status_code == 200 and '<td class="n" data-k="portions">3</td>' in staff.text
    assert "虹桥小区1号楼1单元101室" not in staff.text and 'id="no-deliveries"' in staff.text
    assert console_login("demo-secretary").get(
        f"/console/meals/{week['lunch']}/kitchen").status_code == 403
    assert console_login("demo-canteen").get("/console/meals/999999/kitchen").status_code == 404


# --- the feedback box's held notes -----------------------------------------------------

def test_held_feedback_is_released_or_hidden_by_its_staff(app, client, people, console_login,
                                                         sign_in_as, auth, post, audit_rows,
                                                         canteen):
    def give(headers, canteen_id, text):
        res = client.post(f"/api/v1/canteens/{canteen_id}/feedback", headers=headers,
                          json={"rating": 2, "text": text})
        assert res.status_code == 201, res.get_json()
        return res.get_json()["id"]
    elsewhere = other_community(app)
    held, hide_me = give(people["demo-resident"], canteen, HELD_TEXT), \
        give(people["demo-resident-2"], canteen, HELD_TEXT)
    visible = give(people["demo-resident"], canteen, "很好吃")
    theirs = give(auth("other-resident"), elsewhere["canteen"], HELD_TEXT)
    page = "/console/canteen/feedback"
    ours = console_login("demo-canteen")
    listed = ours.get(page).text
    assert ids(listed, "feedback") == {held, hide_me}  # held only, our canteen only
    assert "张阿姨" in listed and "很好吃" not in listed
    other = sign_in_as(auth("other-staff"))
    assert ids(other.get(page).text, "feedback") == {theirs}
    # Another community's staff cannot decide ours: told it does not exist, nothing changes.
    refused = post(other, f"/console/canteen-feedback/{held}/moderation", page=page,
                   action="release")
    assert flashes(refused.text) == ["意见不存在"]
    released = post(ours, f"/console/canteen-feedback/{held}/moderation", page=page,
                    action="release")
    assert flashes(released.text) == [f"意见 #{held}：已公开"]
    assert ids(released.text, "feedback") == {hide_me}
    hidden = post(ours, f"/console/canteen-feedback/{hide_me}/moderation", page=page,
                  action="hide", reason="含个人电话")
    assert flashes(hidden.text) == [f"意见 #{hide_me}：已隐藏"]
    assert flashes(post(ours, f"/console/canteen-feedback/{visible}/moderation", page=page,
                        action="release").text) == ["当前状态为“已公开”，不能执行此操作"]
    assert flashes(post(ours, f"/console/canteen-feedback/{held}/moderation", page=page,
                        action="delete").text) == ["请选择公开或隐藏"]
    statuses = in_app(app, lambda: dict(db.session.execute(
        sa.select(CanteenFeedback.id, CanteenFeedback.status)).all()))
    assert {k: v.value for k, v in statuses.items()} == {
        held: "visible", hide_me: "hidden", visible: "visible", theirs: "held"}
    rows = [r for r in audit_rows() if r[2] == "canteen_feedback"]
    assert rows == [("demo-canteen", "feedback_release", "canteen_feedback", held,
                     {"status": "held"}, {"status": "visible", "reason": None}),
                    ("demo-canteen", "feedback_hide", "canteen_feedback", hide_me,
                     {"status": "held"}, {"status": "hidden", "reason": "含个人电话"})]


# --- notices ---------------------------------------------------------------------------

def test_which_compounds_published_last_weeks_notice(app, client, world, people, console_login,
                                                     visit_rules):
    hq, ss = world["compounds"]["虹桥小区"], world["compounds"]["盛世华城"]
    draft = client.post("/api/v1/notices/drafts", json={"compound_id": hq},
                        headers=people["demo-secretary"]).get_json()
    assert client.post(f"/api/v1/notices/{draft['id']}/publish",
                       headers=people["demo-secretary"]).status_code == 200
    for openid in ("demo-staff", "demo-admin"):
        page = console_login(openid).get("/console/notices")
        assert page.status_code == 200
        section = page.text.split(f'data-community="{world["community"]}"')[1]
        assert f'data-week="{draft["week"]}"' in page.text
        assert 'data-k="published">1</span> / 2 个小区' in section
        assert "未发布：盛世华城" in section
        assert f'class="compound published" data-id="{hq}"' in section
        assert f'class="compound unpublished" data-id="{ss}"' in section
        assert f'href="/notices/{draft["id"]}/print"' in section
        assert section.count('class="print"') == 1  # no print link for what is not out
    # The print page the link names is the public A4 page.
    printed = client.get(f"/notices/{draft['id']}/print")
    assert printed.status_code == 200 and "虹桥小区" in printed.text
    earlier = console_login("demo-staff").get("/console/notices?week=2026-W01")
    assert earlier.status_code == 200 and 'data-k="published">0</span>' in earlier.text
    bad = console_login("demo-staff").get("/console/notices?week=2026-W99")
    assert bad.status_code == 422 and 'data-status="422"' in bad.text


# --- escalations -----------------------------------------------------------------------

@pytest.fixture
def housing(app, auth):
    """A member of the 住建 department (openid `housing-1`): their bearer headers."""
    def work():
        department = db.session.scalar(sa.select(Department).where(Department.name == "住建"))
        user = User(openid="housing-1", nickname="住建小李")
        user.grants.append(RoleGrant(role=Role.DEPARTMENT, scope_kind=ScopeKind.DEPARTMENT,
                                     scope_id=department.id))
        db.session.add(user)
        db.session.commit()
        return department.id
    return in_app(app, work), auth("housing-1")


def test_escalated_incidents_for_their_department_only(app, world, console_login, sign_in_as,
                                                       post, audit_rows, make_incident, housing):
    ours = make_incident(status=IncidentStatus.ESCALATED, description="井盖缺失")
    theirs = make_incident(status=IncidentStatus.ESCALATED, description="楼道墙皮脱落")
    make_incident(status=IncidentStatus.DISPATCHED, description="路灯不亮")  # not escalated
    department_id, housing_headers = housing

    def move():
        db.session.get(Incident, theirs).department_id = department_id
        db.session.commit()
    in_app(app, move)
    city = console_login("demo-department")
    page = city.get("/console/escalations")
    assert ids(page.text, "escalation") == {ours}
    assert "井盖缺失" in page.text and "楼道墙皮脱落" not in page.text
    row = page.text.split(f'data-id="{ours}"')[1].split("</tr>")[0]
    assert 'class="accept"' in row and 'class="comment"' in row and 'class="resolve"' not in row
    other = sign_in_as(housing_headers)
    assert ids(other.get("/console/escalations").text, "escalation") == {theirs}
    assert ids(console_login("demo-admin").get("/console/escalations").text,
               "escalation") == {ours, theirs}
    # Another department cannot act on ours (it does not see it); nothing changes.
    refused = post(other, f"/console/escalations/{ours}", page="/console/escalations",
                   action="accept")
    assert flashes(refused.text) == ["随手拍不存在"]
    accepted = post(city, f"/console/escalations/{ours}", page="/console/escalations",
                    action="accept")
    assert flashes(accepted.text) == [f"随手拍 #{ours}：已接单"]
    row = accepted.text.split(f'data-id="{ours}"')[1].split("</tr>")[0]
    assert 'data-status="accepted"' in accepted.text and 'class="resolve"' in row
    no_photo = post(city, f"/console/escalations/{ours}", page="/console/escalations",
                    action="resolve", note="已补装井盖")
    assert flashes(no_photo.text) == ["请上传至少一张处理后的照片"]
    too_long = post(city, f"/console/escalations/{ours}", page="/console/escalations",
                    action="comment", note="长" * 501)
    assert flashes(too_long.text)[0].startswith("说明：")
    assert flashes(post(city, f"/console/escalations/{ours}", page="/console/escalations",
                        action="reject").text) == ["请选择要执行的操作"]
    resolved = post(city, f"/console/escalations/{ours}", page="/console/escalations",
                    action="resolve", note="已补装井盖",
                    files={"photos": (io.BytesIO(jpeg()), "after.jpg")})
    assert flashes(resolved.text) == [f"随手拍 #{ours}：已办结"]
    assert ours not in ids(resolved.text, "escalation")  # resolved: off the queue
    status, resolved_at = in_app(app, lambda: db.session.execute(sa.select(
        Incident.status, Incident.resolved_at).where(Incident.id == ours)).one())
    assert status is IncidentStatus.RESOLVED and resolved_at is not None
    actions = [(who, action, target) for who, action, kind, target, *_ in audit_rows()
               if kind == "incidents"]
    assert actions == [("demo-department", "incident_accept", ours),
                       ("demo-department", "incident_resolve", ours)]


# --- the bot's tickets and gaps --------------------------------------------------------

@pytest.fixture
def desk(app, world):
    """Two open tickets (a bound follower, 张阿姨; an unbound one) and a gap in 示范社区, and
    a ticket and a gap of another community."""
    def work():
        street = db.session.scalar(sa.select(Street))
        far = Community(street_id=street.id, name="远方社区")
        db.session.add(far)
        db.session.flush()
        rows = {
            "bound": BotTicket(openid="oa-zhang", user_id=world["users"]["demo-resident"],
                               community_id=world["community"], question="老年卡怎么办？"),
            "unbound": BotTicket(openid="oa-stranger", community_id=world["community"],
                                 question="社区几点下班？"),
            "far": BotTicket(openid="oa-far", community_id=far.id, question="远方的问题"),
            "gap": GuideGap(community_id=world["community"], question="狗证在哪里办", score=0.2),
            "far_gap": GuideGap(community_id=far.id, question="远方的空白", score=0.1),
        }
        db.session.add_all(rows.values())
        db.session.commit()
        return {name: row.id for name, row in rows.items()}
    return in_app(app, work)


def test_bot_tickets_answered_through_the_outbox_and_gaps_handled(app, world, console_login,
                                                                  post, audit_rows, desk):
    staff = console_login("demo-staff")
    page = staff.get("/console/bot").text
    assert ids(page, "ticket") == {desk["bound"], desk["unbound"]}
    assert ids(page, "gap") == {desk["gap"]}
    assert "远方" not in page and "oa-zhang" not in page  # no openids on the page
    admin = console_login("demo-admin").get("/console/bot").text
    assert ids(admin, "ticket") == {desk["bound"], desk["unbound"], desk["far"]}
    blank = post(staff, f"/console/bot/tickets/{desk['bound']}/answer", page="/console/bot",
                 answer="   ")
    assert flashes(blank.text)[0].startswith("答复：")
    done = post(staff, f"/console/bot/tickets/{desk['bound']}/answer", page="/console/bot",
                answer="带身份证和户口本到社区服务站办理。")
    assert flashes(done.text) == [f"工单 #{desk['bound']}：已答复，已发送给居民"]
    assert ids(done.text, "ticket") == {desk["unbound"]}
    [sent] = in_app(app, lambda: [(n.user_id, n.template_key, n.dedupe_key, n.payload["text"])
                                  for n in db.session.scalars(sa.select(Notification).where(
                                      Notification.template_key == "bot_reply"))])
    assert sent[:3] == (world["users"]["demo-resident"], "bot_reply",
                        f"bot:ticket:{desk['bound']}:answer")
    assert "带身份证和户口本到社区服务站办理。" in sent[3]
    again = post(staff, f"/console/bot/tickets/{desk['bound']}/answer", page="/console/bot",
                 answer="再答一次")
    assert flashes(again.text) == ["该工单已答复"]
    unbound = post(staff, f"/console/bot/tickets/{desk['unbound']}/answer", page="/console/bot",
                   answer="工作日 8:30–17:30。")
    assert flashes(unbound.text) == [f"工单 #{desk['unbound']}：已答复，居民下次发消息时会收到"]
    far = post(staff, f"/console/bot/tickets/{desk['far']}/answer", page="/console/bot",
               answer="越权")
    assert flashes(far.text) == ["工单不存在"]
    handled = post(staff, f"/console/bot/gaps/{desk['gap']}/resolve", page="/console/bot")
    assert flashes(handled.text) == [f"问题 #{desk['gap']}：已标记为已处理"]
    assert ids(handled.text, "gap") == set()
    assert flashes(post(staff, f"/console/bot/gaps/{desk['gap']}/resolve",
                        page="/console/bot").text) == ["该问题已处理"]
    assert flashes(post(staff, f"/console/bot/gaps/{desk['far_gap']}/resolve",
                        page="/console/bot").text) == ["问题不存在"]
    state = in_app(app, lambda: {
        "tickets": dict(db.session.execute(sa.select(BotTicket.id, BotTicket.status)).all()),
        "gaps": dict(db.session.execute(sa.select(GuideGap.id, GuideGap.resolved)).all())})
    assert {k: v.value for k, v in state["tickets"].items()} == {
        desk["bound"]: "answered", desk["unbound"]: "answered", desk["far"]: "open"}
    assert state["gaps"] == {desk["gap"]: True, desk["far_gap"]: False}
    rows = [(who, action, target) for who, action, kind, target, *_ in audit_rows()
            if kind in ("bot_tickets", "guide_gaps")]
    assert rows == [("demo-staff", "ticket_answer", desk["bound"]),
                    ("demo-staff", "ticket_answer", desk["unbound"]),
                    ("demo-staff", "gap_resolve", desk["gap"])]


def test_a_queue_post_without_the_csrf_token_is_refused(app, console_login, canteen, week):
    browser = console_login("demo-staff")
    response = browser.post(f"/console/meals/{week['dinner']}/publish", data={})
    assert response.status_code == 400 and "页面已过期" in response.text
    assert meal_row(app, week["dinner"]).state is MealState.DRAFT
