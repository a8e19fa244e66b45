"""民意反馈箱 over HTTP: residents of the canteen's community rate it and say why (content
security on the note), anonymous notes never name their author to staff, the staff read
and reply once (the author told), the monthly average per local month, and the refusals."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app import timeutil
from app.extensions import db
from app.models import (
    Building,
    CanteenFeedback,
    CanteenSuspension,
    Community,
    Compound,
    Grid,
    Household,
    HouseholdMembership,
    MembershipStatus,
    Role,
    RoleGrant,
    ScopeKind,
    Street,
    User,
    VerifiedBy,
)
from app.models.base import utcnow
from tests.fixtures.wishes import notified
from tests.helpers import in_app
from tests.jobs.test_canteen_jobs import make_canteen

DAY = timedelta(days=1)


def other_community(app) -> dict:
    """老城社区 with its own canteen, a verified resident (`other-resident`) and a member of
    staff holding both staff roles there (`other-staff`)."""
    def work():
        street = db.session.scalar(sa.select(Street))
        community = Community(street_id=street.id, name="老城社区")
        grid = Grid(community=community, name="老城网格")
        compound = Compound(community=community, name="老城小区")
        building = Building(compound=compound, grid=grid, name="1号楼")
        household = Household(building=building, unit="1", room="101")
        db.session.add_all([community, grid, compound, building, household])
        db.session.flush()
        resident = User(openid="other-resident", nickname="老城居民", household_id=household.id)
        resident.grants.append(RoleGrant(role=Role.RESIDENT))
        staff = User(openid="other-staff", nickname="老城社工")
        for role in (Role.STAFF, Role.CANTEEN_STAFF):
            staff.grants.append(RoleGrant(role=role, scope_kind=ScopeKind.COMMUNITY,
                                          scope_id=community.id))
        db.session.add_all([resident, staff])
        db.session.flush()
        db.session.add(HouseholdMembership(user_id=resident.id, household_id=household.id,
                                           status=MembershipStatus.VERIFIED,
                                           verified_by=VerifiedBy.GRID_WORKER))
        db.session.commit()
        return {"community": community.id, "resident": resident.id, "staff": staff.id}
    ids = in_app(app, work)
    return {**ids, "canteen": make_canteen(app, ids["community"], "老城食堂")}


@pytest.fixture
def canteen(app, world) -> int:
    return make_canteen(app, world["community"])


@pytest.fixture
def give(client, people, canteen):
    """`give(who, expect=201, canteen_id=None, headers=None, **fields)` posts a note."""
    def post(who: str | dict, expect: int = 201, canteen_id: int | None = None,
             headers: dict | None = None, **fields) -> dict:
        auth = people[who] if isinstance(who, str) else who
        body = {"rating": 5, **fields}
        res = client.post(f"/api/v1/canteens/{canteen_id or canteen}/feedback", json=body,
                          headers={**auth, **(headers or {})})
        assert res.status_code == expect, res.get_json()
        return res.get_json()
    return post


def stored(app) -> list[tuple]:
    return in_app(app, lambda: db.session.execute(
        sa.select(CanteenFeedback.user_id, CanteenFeedback.rating, CanteenFeedback.text,
                  CanteenFeedback.anonymous, CanteenFeedback.status)
        .order_by(CanteenFeedback.id)).all())


def test_a_resident_rates_the_canteen_and_the_staff_read_it(client, app, world, people,
                                                            canteen, give):
    users = world["users"]
    note = give("demo-resident", rating=4, text="红烧肉有点咸，米饭很香")
    assert note["rating"] == 4 and note["text"] == "红烧肉有点咸，米饭很香"
    assert note["status"] == {"code": "visible", "name": "已公开"}
    assert note["author"] == {"id": users["demo-resident"], "nickname": "张阿姨"}
    assert note["mine"] is True and note["reply"] is None
    give("demo-resident-2", rating=2)  # a rating alone is fine
    for staff in ("demo-canteen", "demo-staff", "demo-admin"):
        page = client.get(f"/api/v1/canteens/{canteen}/feedback",
                          headers=people[staff]).get_json()
        assert [(i["rating"], i["author"]["nickname"], i["mine"]) for i in page["items"]] == [
            (2, "李师傅", False), (4, "张阿姨", False)], staff
    first = client.get(f"/api/v1/canteens/{canteen}/feedback?limit=1",
                       headers=people["demo-canteen"]).get_json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    rest = client.get(f"/api/v1/canteens/{canteen}/feedback?limit=1&cursor={first['next_cursor']}",
                      headers=people["demo-canteen"]).get_json()
    assert [i["rating"] for i in rest["items"]] == [4] and rest["next_cursor"] is None


def test_an_anonymous_note_never_names_its_author_to_staff(client, app, world, people,
                                                           canteen, give):
    users = world["users"]
    mine = give("demo-resident-3", rating=1, text="排队太久了", anonymous=True)
    assert mine["author"]["nickname"] == "王大姐"  # the author sees their own
    for staff in ("demo-canteen", "demo-staff"):
        res = client.get(f"/api/v1/canteens/{canteen}/feedback", headers=people[staff])
        [item] = res.get_json()["items"]
        assert item["anonymous"] is True and item["author"] is None and item["mine"] is False
        assert "王大姐" not in res.get_data(as_text=True)
        one = client.get(f"/api/v1/canteen-feedback/{item['id']}", headers=people[staff])
        assert one.get_json()["author"] is None and "王大姐" not in one.get_data(as_text=True)
    # The reply still reaches the author (the system knows who wrote it; the staff do not).
    answered = client.post(f"/api/v1/canteen-feedback/{mine['id']}/reply",
                           json={"reply": "已增加一个窗口，感谢反馈"},
                           headers=people["demo-canteen"]).get_json()
    assert answered["reply"] == "已增加一个窗口，感谢反馈" and answered["author"] is None
    [told] = notified(app, users["demo-resident-3"], "canteen_feedback_reply")
    assert told == {"feedback_id": mine["id"], "canteen": "幸福食堂",
                    "reply": "已增加一个窗口，感谢反馈", "at": told["at"]}
    own = client.get(f"/api/v1/canteen-feedback/{mine['id']}",
                     headers=people["demo-resident-3"]).get_json()
    assert own["reply"] == "已增加一个窗口，感谢反馈" and own["mine"] is True


def test_a_reply_is_given_once_by_the_staff_only(client, app, world, people, canteen, give):
    note = give("demo-resident", rating=3, text="希望多一些软烂的菜")
    url = f"/api/v1/canteen-feedback/{note['id']}/reply"
    # The author may read it but not answer it; another resident may not even see it.
    assert client.post(url, json={"reply": "好的"}, headers=people["demo-resident"]
                       ).get_json()["code"] == "forbidden"
    for who in ("demo-resident-2", "demo-grid-worker", "demo-secretary"):
        res = client.post(url, json={"reply": "好的"}, headers=people[who])
        assert res.status_code == 404 and res.get_json()["code"] == "feedback_not_found", who
        assert client.get(f"/api/v1/canteen-feedback/{note['id']}",
                          headers=people[who]).status_code == 404
    blank = client.post(url, json={"reply": "   "}, headers=people["demo-staff"])
    assert blank.status_code == 422 and "reply" in blank.get_json()["errors"]["json"]
    done = client.post(url, json={"reply": "下周起每天一道软烂菜"}, headers=people["demo-staff"])
    assert done.status_code == 200 and done.get_json()["replied_at"]
    again = client.post(url, json={"reply": "再说一遍"}, headers=people["demo-canteen"])
    assert again.status_code == 409 and again.get_json()["code"] == "feedback_already_replied"
    [told] = notified(app, world["users"]["demo-resident"], "canteen_feedback_reply")
    assert told["reply"] == "下周起每天一道软烂菜"
    assert client.post("/api/v1/canteen-feedback/999999/reply", json={"reply": "好的"},
                       headers=people["demo-staff"]).get_json()["code"] == "feedback_not_found"


@pytest.mark.parametrize("body, field", [
    ({"rating": 0}, "rating"), ({"rating": 6}, "rating"), ({"rating": -1}, "rating"),
    ({"rating": "5"}, "rating"), ({"rating": 4.5}, "rating"), ({}, "rating"),
    ({"rating": 5, "text": "好" * 501}, "text"), ({"rating": 5, "text": "  "}, "text"),
    ({"rating": 5, "anonymous": "maybe"}, "anonymous"),
])
def test_bad_input_is_refused_and_nothing_is_stored(client, app, people, canteen, body, field):
    res = client.post(f"/api/v1/canteens/{canteen}/feedback", json=body,
                      headers=people["demo-resident"])
    assert res.status_code == 422, res.get_json()
    assert res.get_json()["code"] == "validation_error"
    assert field in res.get_json()["errors"]["json"]
    assert stored(app) == []


def test_risky_text_is_refused_and_text_to_review_is_held(app, people, canteen, give):
    risky = give("demo-resident", expect=422, rating=1, text="这里有违禁内容")
    assert risky["code"] == "content_risky" and "违规" in risky["message"]
    assert stored(app) == []
    held = give("demo-resident", rating=2, text="这条待审一下")
    assert held["status"]["code"] == "held"
    assert [row[-1].value for row in stored(app)] == ["held"]


def test_a_note_wechat_cannot_check_now_is_held_not_refused(app, people, canteen, give,
                                                            sandbox):
    sandbox.fault("wxa/msg_sec_check", errcode=-1, count=1)
    held = give("demo-resident", rating=4, text="菜量可以再多一点")
    assert held["status"]["code"] == "held" and held["text"] == "菜量可以再多一点"
    assert sandbox.calls().get("wxa/msg_sec_check") >= 1


def test_only_residents_of_the_canteens_community_may_give_feedback(client, app, world, people,
                                                                    canteen, give, auth):
    elsewhere = other_community(app)
    # Staff, grid workers and a fresh WeChat account have no verified home here.
    for who in ("demo-canteen", "demo-grid-worker", "demo-staff"):
        assert give(who, expect=403)["code"] == "not_community_member", who
    assert give(auth("fresh-wechat-user"), expect=403)["code"] == "not_community_member"
    # A resident of another community, here; and ours, at their canteen.
    assert give(auth("other-resident"), expect=403)["code"] == "not_community_member"
    assert give("demo-resident", expect=403, canteen_id=elsewhere["canteen"])["code"] == \
        "not_community_member"
    assert give("demo-resident", expect=404, canteen_id=999999)["code"] == "canteen_not_found"
    assert stored(app) == []
    assert give(auth("other-resident"), canteen_id=elsewhere["canteen"])["rating"] == 5


def test_the_box_is_for_the_staff_of_the_canteens_community(client, app, people, canteen,
                                                            give, auth):
    elsewhere = other_community(app)
    give("demo-resident", text="很好吃")
    url = f"/api/v1/canteens/{canteen}/feedback"
    for who in ("demo-resident", "demo-grid-worker", "demo-secretary", "demo-department"):
        res = client.get(url, headers=people[who])
        assert res.status_code == 403 and res.get_json()["code"] == "forbidden", who
    res = client.get(url, headers=auth("other-staff"))
    assert res.status_code == 403 and "很好吃" not in res.get_data(as_text=True)
    assert client.get("/api/v1/canteens/999999/feedback", headers=people["demo-staff"]
                      ).get_json()["code"] == "canteen_not_found"
    assert client.get(url + "?status=lost", headers=people["demo-staff"]).status_code == 422
    assert client.get(url + "?cursor=%%%", headers=people["demo-staff"]
                      ).get_json()["code"] == "invalid_cursor"
    [held] = client.get(url + "?status=visible", headers=people["demo-staff"]).get_json()["items"]
    assert held["text"] == "很好吃"
    assert client.get(url + "?status=held", headers=people["demo-staff"]).get_json()["items"] == []
    # Nor may another community's staff read or answer one note of it.
    note_id = held["id"]
    assert client.get(f"/api/v1/canteen-feedback/{note_id}", headers=auth("other-staff")
                      ).status_code == 404
    assert elsewhere


def test_three_notes_a_day_and_a_retry_is_one_note(client, app, people, canteen, give):
    key = {"Idempotency-Key": "feedback-once-1"}
    first = give("demo-resident", rating=4, headers=key)
    assert give("demo-resident", rating=4, headers=key)["id"] == first["id"]
    give("demo-resident", rating=3)
    give("demo-resident", rating=2)
    over = give("demo-resident", expect=429, rating=1)
    assert over["code"] == "daily_limit_reached" and "3" in over["message"]
    assert [row[1] for row in stored(app)] == [4, 3, 2]
    give("demo-resident-2", rating=1)  # someone else's day is their own


def test_the_monthly_average_per_local_month(client, app, world, people, canteen, auth):
    def at(moment: str, who: str, rating: int) -> None:
        with time_machine.travel(datetime.fromisoformat(moment), tick=False):
            res = client.post(f"/api/v1/canteens/{canteen}/feedback", json={"rating": rating},
                              headers=auth(who))
            assert res.status_code == 201, res.get_json()

    at("2027-02-10T12:00:00+08:00", "demo-resident", 3)
    at("2027-03-01T00:05:00+08:00", "demo-resident", 5)  # 2月28日 16:05 UTC: March here
    at("2027-03-31T23:55:00+08:00", "demo-resident-2", 4)
    at("2027-04-01T00:10:00+08:00", "demo-resident-3", 1)
    with time_machine.travel(datetime.fromisoformat("2027-04-15T10:00:00+08:00"), tick=False):
        headers = auth("demo-resident")
        res = client.get(f"/api/v1/canteens/{canteen}/ratings?months=4", headers=headers)
        assert res.get_json() == {"canteen_id": canteen, "items": [
            {"month": "2027-01", "count": 0, "average": None},
            {"month": "2027-02", "count": 1, "average": 3.0},
            {"month": "2027-03", "count": 2, "average": 4.5},
            {"month": "2027-04", "count": 1, "average": 1.0}]}
        staff = auth("demo-canteen")
        march = client.get(f"/api/v1/canteens/{canteen}/ratings?months=1&until=2027-03",
                           headers=staff).get_json()["items"]
        assert march == [{"month": "2027-03", "count": 2, "average": 4.5}]
        assert timeutil.today().month == 4
        for bad in ("months=0", "months=25", "until=2027-13", "until=March"):
            res = client.get(f"/api/v1/canteens/{canteen}/ratings?{bad}", headers=staff)
            assert res.status_code == 422, bad
        outsider = client.get(f"/api/v1/canteens/{canteen}/ratings", headers=auth("nobody-here"))
        assert outsider.status_code == 403 and outsider.get_json()["code"] == "not_community_member"


def test_staff_hear_an_appeal_and_lift_a_suspension_early(client, app, world, people, canteen,
                                                          auth):
    """The suspension message says how to appeal; this is the other end of it."""
    users = world["users"]
    elsewhere = other_community(app)
    now = utcnow()

    def suspend(user_id: int) -> int:
        def work():
            row = CanteenSuspension(user_id=user_id, starts_at=now, ends_at=now + 14 * DAY,
                                    reason="近30天内3次预订未取餐", no_show_count=3)
            db.session.add(row)
            db.session.commit()
            return row.id
        return in_app(app, work)

    ours, theirs = suspend(users["demo-resident"]), suspend(elsewhere["resident"])
    url = f"/api/v1/canteen-suspensions?community_id={world['community']}"
    for staff in ("demo-canteen", "demo-staff"):
        res = client.get(url, headers=people[staff])
        assert res.status_code == 200, res.get_json()
        [item] = res.get_json()["items"]
        assert item["id"] == ours and item["user"] == {"id": users["demo-resident"],
                                                       "nickname": "张阿姨"}
        assert item["no_show_count"] == 3 and item["reason"] == "近30天内3次预订未取餐"
    for who in ("demo-resident", "demo-grid-worker", "demo-secretary"):
        assert client.get(url, headers=people[who]).status_code == 403, who
    assert client.get(url, headers=auth("other-staff")).status_code == 403
    assert client.get("/api/v1/canteen-suspensions?community_id=999999",
                      headers=people["demo-staff"]).get_json()["code"] == "community_not_found"
    # Another community's suspension is not ours to lift, nor ours theirs; nor a resident's.
    lift = "/api/v1/canteen-suspensions/{}/lift"
    for headers, target in ((people["demo-staff"], theirs), (auth("other-staff"), ours),
                            (people["demo-resident"], ours)):
        res = client.post(lift.format(target), headers=headers)
        assert res.status_code == 404 and res.get_json()["code"] == "suspension_not_found"
    done = client.post(lift.format(ours), headers=people["demo-canteen"])
    assert done.status_code == 200 and done.get_json()["lifted_at"]
    [told] = notified(app, users["demo-resident"], "canteen_suspension_lifted")
    assert "已恢复" in told["note"]
    again = client.post(lift.format(ours), headers=people["demo-staff"])
    assert again.status_code == 409 and again.get_json()["code"] == "suspension_over"
    assert client.get(url, headers=people["demo-staff"]).get_json()["items"] == []
    assert client.post(lift.format(theirs), headers=auth("other-staff")).status_code == 200
