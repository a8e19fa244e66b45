"""党员积分 over HTTP: staff-entered items and their refusals, a member's own score and
grade from verified hours, completed wishes and items (configurable weights and
thresholds), and the quarterly public list: as of the quarter's end, names and grades only,
for the community's residents and workers, 403 to anyone else."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.models import PartyScoreItem, Role, RoleGrant, ScopeKind, User
from tests.fixtures.party import unverified_log
from tests.fixtures.wishes import notified
from tests.helpers import in_app, login_many

SHANGHAI = timezone(timedelta(hours=8))
REGISTERED = datetime(2026, 1, 5, 10, tzinfo=SHANGHAI)
NOW = datetime(2026, 11, 20, 10, tzinfo=SHANGHAI)  # in the fourth quarter


def get(client, path: str, headers: dict, expect: int = 200) -> dict:
    response = client.get(path, headers=headers)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def post(client, path: str, headers: dict, expect: int, **body) -> dict:
    response = client.post(path, headers=headers, json=body)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def items_count(app) -> int:
    return in_app(app, lambda: db.session.scalar(
        sa.select(sa.func.count()).select_from(PartyScoreItem)))


def set_phone(app, user_id: int, phone: str) -> None:
    def work():
        db.session.get(User, user_id).phone = phone
        db.session.commit()
    in_app(app, work)


def served_year(app, client, world, confirmed_member, party_members, manual_log):
    """刘党员 and two more members registered in January; 刘党员 served 4 + 3.5 + 4 hours in
    the first three quarters and 5 in the fourth, 党员0 2 hours in May; a flagged log of
    刘党员 nobody verified. Returns (headers of the two, their ids)."""
    with time_machine.travel(REGISTERED, tick=False):
        confirmed_member()
        others = party_members(2)
    liu = world["users"]["demo-party-member"]
    with time_machine.travel(NOW, tick=False):
        for month, day, hours in ((2, 10, 4), (5, 20, 3.5), (8, 8, 4), (11, 10, 5)):
            manual_log(liu, datetime(2026, month, day, 9, tzinfo=SHANGHAI), hours)
        manual_log(others.ids[0], datetime(2026, 5, 1, 9, tzinfo=SHANGHAI), 2)
        fresh = login_many(app, client, ["member-0", "member-1"])  # January's tokens expired
    unverified_log(app, liu, world["community"], datetime(2026, 6, 1, 9, tzinfo=SHANGHAI), 6)
    others[:] = fresh
    return others


def grant_staff(app, user_id: int, world) -> None:
    def work():
        db.session.add(RoleGrant(user_id=user_id, role=Role.STAFF,
                                 scope_kind=ScopeKind.COMMUNITY, scope_id=world["community"]))
        db.session.commit()
    in_app(app, work)


def test_staff_enter_items_and_every_refusal_changes_nothing(
        app, client, world, people, confirmed_member, party_members, other_community):
    with time_machine.travel(REGISTERED, tick=False):
        confirmed_member()
    staff, member = people["demo-staff"], people["demo-party-member"]
    liu = world["users"]["demo-party-member"]
    other_id, other_staff = other_community
    body = {"member_id": liu, "community_id": world["community"], "year": 2026,
            "points": 10, "reason": "牵头组织楼栋议事会"}
    with time_machine.travel(NOW, tick=False):
        item = post(client, "/api/v1/party/score-items", staff, 201, **body)
        assert {k: item[k] for k in ("member_id", "community_id", "year", "points", "reason")} \
            == {**body}
        assert item["member"] == {"id": liu, "name": "刘党员"}
        assert item["entered_by"]["name"] == "郑社工"
        told = notified(app, liu, "party_update")[-1]
        assert told["title"] == "党员积分" and told["note"] == "2026年度+10分：牵头组织楼栋议事会"
        # A deduction, and last year's assessment still open in November.
        post(client, "/api/v1/party/score-items", staff, 201,
             **{**body, "points": -5, "reason": "无故缺席组织生活"})
        post(client, "/api/v1/party/score-items", staff, 201, **{**body, "year": 2025})

        refusals = [
            (member, body, 403, "forbidden"),  # a member does not score themself
            (people["demo-secretary"], body, 403, "forbidden"),
            (other_staff, body, 403, "forbidden"),  # another community's staff
            (other_staff, {**body, "community_id": other_id}, 422, "member_not_registered"),
            (staff, {**body, "community_id": 999999}, 404, "community_not_found"),
            (staff, {**body, "member_id": world["users"]["demo-resident"]}, 422,
             "member_not_registered"),
            (staff, {**body, "year": 2024}, 422, "score_year_closed"),
            (staff, {**body, "year": 2027}, 422, "score_year_closed"),
            (staff, {**body, "year": 1999}, 422, "validation_error"),
            (staff, {**body, "year": "2026"}, 422, "validation_error"),
            (staff, {**body, "points": 0}, 422, "validation_error"),
            (staff, {**body, "points": 101}, 422, "validation_error"),
            (staff, {**body, "points": -101}, 422, "validation_error"),
            (staff, {**body, "points": 2**63}, 422, "validation_error"),
            (staff, {**body, "reason": "很" * 101}, 422, "validation_error"),
            (staff, {**body, "reason": "   "}, 422, "validation_error"),
            (staff, {k: v for k, v in body.items() if k != "reason"}, 422, "validation_error"),
        ]
        for headers, payload, status, code in refusals:
            found = post(client, "/api/v1/party/score-items", headers, status, **payload)
            assert found["code"] == code, (payload, found)
            assert found["message"]  # Chinese, for the user
        assert items_count(app) == 3
        # A staff member who is a party member there too does not score themself.
        grant_staff(app, others_ids := party_members(1, prefix="staffer").ids[0], world)
        staffer = login_many(app, client, ["staffer-0"])[0]
        assert post(client, "/api/v1/party/score-items", staffer, 201,
                    **{**body, "points": 1})["entered_by"]["id"] == others_ids
        assert post(client, "/api/v1/party/score-items", staffer, 403,
                    **{**body, "member_id": others_ids})["code"] == "self_adjustment"
        assert items_count(app) == 4
        too_long = post(client, "/api/v1/party/score-items", staff, 422,
                        **{**body, "reason": "很" * 101})
        assert "reason" in too_long["errors"]["json"]

        # Idempotency-Key: a repeat answers the first item and adds nothing.
        key = {**staff, "Idempotency-Key": "score-item-1"}
        first = post(client, "/api/v1/party/score-items", key, 201, **body)
        again = client.post("/api/v1/party/score-items", headers=key, json=body)
        assert again.status_code == 201 and again.get_json()["id"] == first["id"]
        assert items_count(app) == 5

        listed = get(client, f"/api/v1/party/score-items?community_id={world['community']}"
                     "&year=2026&limit=2", staff)
        assert [i["points"] for i in listed["items"]] == [10, 1]  # newest first
        rest = get(client, f"/api/v1/party/score-items?community_id={world['community']}"
                   f"&year=2026&limit=3&cursor={listed['next_cursor']}", staff)
        assert [i["points"] for i in rest["items"]] == [-5, 10] and rest["next_cursor"] is None
        assert len(get(client, f"/api/v1/party/score-items?community_id={world['community']}",
                       staff)["items"]) == 5
        assert get(client, f"/api/v1/party/score-items?community_id={world['community']}"
                   f"&member_id={world['users']['demo-resident']}", staff)["items"] == []
        for headers, status, code in ((member, 403, "forbidden"),
                                      (other_staff, 403, "forbidden")):
            found = get(client, "/api/v1/party/score-items?community_id="
                        f"{world['community']}", headers, status)
            assert found["code"] == code
        assert get(client, f"/api/v1/party/score-items?community_id={world['community']}"
                   "&year=3000", staff, 422)["code"] == "validation_error"


def test_my_score_counts_verified_hours_completed_wishes_and_items(
        app, client, world, people, confirmed_member, party_members, manual_log,
        completed_wish, monkeypatch):
    served_year(app, client, world, confirmed_member, party_members, manual_log)
    member, staff = people["demo-party-member"], people["demo-staff"]
    liu = world["users"]["demo-party-member"]
    with time_machine.travel(NOW, tick=False):
        completed_wish()
        post(client, "/api/v1/party/score-items", staff, 201, member_id=liu,
             community_id=world["community"], points=10, reason="牵头组织楼栋议事会")
        mine = get(client, "/api/v1/party/me/score", member)
        # 16.5 verified hours × 3 + 1 wish × 5 + 10 = 64.5 (the flagged 6 hours wait).
        assert {k: mine[k] for k in ("year", "hours", "times", "wishes", "items_points",
                                     "score", "grade")} == {
            "year": 2026, "hours": "16.5", "times": 4, "wishes": 1, "items_points": 10,
            "score": "64.5", "grade": {"code": "qualified", "name": "合格"}}
        assert mine["weights"] == {"hour": "3", "wish": "5"}
        assert mine["thresholds"] == {"excellent": "90", "qualified": "60", "basic": "40"}
        assert [(i["points"], i["reason"]) for i in mine["items"]["items"]] == [
            (10, "牵头组织楼栋议事会")]
        last_year = get(client, "/api/v1/party/me/score?year=2025", member)
        assert (last_year["score"], last_year["grade"]["code"]) == ("0.0", "unqualified")
        assert get(client, "/api/v1/party/me/score?year=2027", member, 422)["code"] \
            == "year_not_started"
        assert get(client, "/api/v1/party/me/score?year=1999", member, 422)["code"] \
            == "validation_error"
        assert get(client, "/api/v1/party/me/score", people["demo-resident"], 403)["code"] \
            == "not_party_member"
        # Weights and thresholds are settings.
        monkeypatch.setitem(app.config, "PARTY_SCORE_WEIGHTS", {"hour": 2, "wish": 10})
        monkeypatch.setitem(app.config, "PARTY_SCORE_GRADES",
                            {"excellent": 50, "qualified": 30, "basic": 20})
        mine = get(client, "/api/v1/party/me/score", member)
        assert (mine["score"], mine["grade"]["name"]) == ("53.0", "优秀")  # 33 + 10 + 10


def test_the_quarterly_public_list_counts_to_the_quarters_end_with_names_only(
        app, client, world, people, confirmed_member, party_members, manual_log,
        other_community):
    others = served_year(app, client, world, confirmed_member, party_members, manual_log)
    staff, liu = people["demo-staff"], world["users"]["demo-party-member"]
    set_phone(app, liu, "13800001234")
    base = f"/api/v1/party/scores?community_id={world['community']}"
    with time_machine.travel(NOW, tick=False):
        post(client, "/api/v1/party/score-items", staff, 201, member_id=liu,
             community_id=world["community"], points=10, reason="牵头组织楼栋议事会")
        q3 = get(client, base + "&year=2026&quarter=3", people["demo-resident"])
        assert (q3["year"], q3["quarter"], q3["complete"], q3["members"]) == (2026, 3, True, 3)
        assert q3["community"] == {"id": world["community"], "name": "示范社区"}
        assert q3["as_of"].startswith("2026-09-30T16:00:00")  # 1 October, Shanghai
        # Up to 30 September: 11.5 hours (34.5), the item entered in November not yet.
        assert q3["items"] == [
            {"rank": 1, "name": "刘党员", "score": "34.5",
             "grade": {"code": "unqualified", "name": "不合格"}},
            {"rank": 2, "name": "党员0", "score": "6.0",
             "grade": {"code": "unqualified", "name": "不合格"}},
            {"rank": 3, "name": "党员1", "score": "0.0",
             "grade": {"code": "unqualified", "name": "不合格"}}]
        text = json.dumps(q3, ensure_ascii=False)
        for private in ("13800001234", "县人社局", "县直单位", "phone", "employer", "member_id"):
            assert private not in text
        assert set(q3) == {"community", "year", "quarter", "as_of", "complete", "members",
                           "items", "next_cursor"}

        now = get(client, base, people["demo-resident-3"])  # this year's quarter so far
        assert (now["quarter"], now["complete"]) == (4, False)
        assert now["items"][0] == {"rank": 1, "name": "刘党员", "score": "59.5",
                                   "grade": {"code": "basic", "name": "基本合格"}}
        # Ties share a rank; keyset pages of the ranking.
        first = get(client, base + "&quarter=1&limit=2", staff)
        assert [(i["rank"], i["name"], i["score"]) for i in first["items"]] == [
            (1, "刘党员", "12.0"), (2, "党员0", "0.0")]
        second = get(client, base + f"&quarter=1&limit=2&cursor={first['next_cursor']}",
                     staff)
        assert [(i["rank"], i["name"]) for i in second["items"]] == [(2, "党员1")]
        assert second["next_cursor"] is None

        # Who may read it: the community's residents, registered members and workers.
        for openid in ("demo-resident", "demo-party-member", "demo-grid-worker-2",
                       "demo-secretary", "demo-staff", "demo-admin"):
            assert get(client, base + "&quarter=3", people[openid])["members"] == 3
        assert get(client, base + "&quarter=3", others[1])["members"] == 3
        _, other_staff = other_community
        stranger = login_many(app, client, ["fresh-wechat-user"])[0]
        for headers in (other_staff, stranger, people["demo-department"]):
            refused = get(client, base + "&quarter=3", headers, 403)
            assert refused["code"] == "not_community_member" and refused["message"]
        assert get(client, "/api/v1/party/scores?community_id=999999", staff, 404)["code"] \
            == "community_not_found"
        for query, code in (("&quarter=5", "validation_error"), ("&quarter=0", "validation_error"),
                            ("&quarter=x", "validation_error"), ("&year=1999", "validation_error"),
                            ("&year=2027&quarter=1", "quarter_not_started"),
                            ("&cursor=bm90LWpzb24", "invalid_cursor"),
                            ("&cursor=WyJOYU4iLCAxXQ", "invalid_cursor")):
            assert get(client, base + query, staff, 422)["code"] == code, query


def test_a_member_transferred_away_stays_on_the_list_of_the_quarters_they_served(
        app, client, world, people, confirmed_member, party_members, manual_log,
        other_community):
    others = served_year(app, client, world, confirmed_member, party_members, manual_log)
    other_id, other_staff = other_community
    with time_machine.travel(NOW, tick=False):
        moved = post(client, "/api/v1/party/registrations", others[0], 201,
                     community_id=other_id, employer="县直单位")
        post(client, f"/api/v1/party/registrations/{moved['id']}/transitions", other_staff,
             200, action="confirm")
        base = f"/api/v1/party/scores?community_id={world['community']}&year=2026"
        names = [i["name"] for i in get(client, base + "&quarter=2", people["demo-staff"])["items"]]
        assert names == ["刘党员", "党员0", "党员1"]
        there = get(client, f"/api/v1/party/scores?community_id={other_id}&quarter=4",
                    other_staff)
        assert [(i["name"], i["score"]) for i in there["items"]] == [("党员0", "6.0")]
    # From next year on, 示范社区's list no longer has them.
    with time_machine.travel(datetime(2027, 2, 1, 10, tzinfo=SHANGHAI), tick=False):
        staff = login_many(app, client, ["demo-staff"])[0]  # a token of February 2027
        listed = get(client, f"/api/v1/party/scores?community_id={world['community']}", staff)
        assert (listed["year"], listed["quarter"]) == (2027, 1)
        assert [i["name"] for i in listed["items"]] == ["刘党员", "党员1"]
