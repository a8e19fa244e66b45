"""六必访 over HTTP: who is due by rule (frozen time), logging a visit with 三必问, raising a
wish or an incident for the household in the same call, 流动党员 一月一联 contacts, and the
privacy of visit history and care tags per role (a neighbour, another compound's
secretary, another grid's worker, a department, a fresh account)."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.models import CareTag, Household, Incident, Visit, Wish
from app.models.base import utcnow
from tests.fixtures.wishes import notified
from tests.helpers import bearer, in_app, login

DAY = timedelta(days=1)
T = CareTag


def count(app, model) -> int:
    return in_app(app, lambda: db.session.scalar(sa.select(sa.func.count()).select_from(model)))


def due(client, headers, expect=200, **query) -> dict:
    response = client.get("/api/v1/visits/due", query_string=query, headers=headers)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def test_due_by_rule_with_frozen_time(app, client, people, address, tag, make_visit):
    now = utcnow()
    alone = address("虹桥小区", "1号楼", "1", "101")     # 独居老人: every 7 days
    hardship = address("虹桥小区", "2号楼", "1", "201")  # 困难家庭: every 14 days
    floating = address("虹桥小区", "3号楼", "2", "302")  # 流动人口: every 30 days
    never = address("虹桥小区", "1号楼", "2", "102")     # 残疾人, never visited
    elsewhere = address("盛世华城", "1号楼", "1", "101")  # another grid
    tag(alone, T.LIVING_ALONE, T.HARDSHIP, since=now - 90 * DAY)  # the most frequent wins
    tag(hardship, T.HARDSHIP, since=now - 90 * DAY)
    tag(floating, T.FLOATING, since=now - 90 * DAY)
    tag(never, T.DISABLED, since=now - 2 * DAY)
    tag(elsewhere, T.LIVING_ALONE, since=now - 90 * DAY)
    make_visit(alone, at=now - 20 * DAY)
    last = make_visit(alone, at=now - 8 * DAY)
    make_visit(hardship, at=now - 10 * DAY)
    make_visit(floating, at=now - 30 * DAY)
    with time_machine.travel(now, tick=False):
        body = due(client, people["demo-grid-worker"])
    items = {item["household"]["id"]: item for item in body["items"]}
    assert set(items) == {alone, floating, never}  # hardship is due in 4 days; elsewhere
    assert [i["household"]["id"] for i in body["items"]] == [never, alone, floating]
    assert items[alone]["every_days"] == 7 and items[alone]["overdue"] is True
    assert items[alone]["overdue_days"] == 1
    assert items[alone]["last_visit"]["id"] == last
    assert items[alone]["last_visit"]["visitor"]["name"] == "赵网格"
    assert {t["code"] for t in items[alone]["care_tags"]} == {"living_alone", "hardship"}
    assert items[floating]["overdue"] is False and items[floating]["every_days"] == 30
    assert items[never]["last_visit"] is None and items[never]["overdue"] is True
    assert items[alone]["household"]["room"] == "101"
    assert body["next_cursor"] is None

    # Three days on: hardship falls due; paging two at a time covers all, none twice.
    with time_machine.travel(now + 4 * DAY, tick=False):
        first = due(client, people["demo-grid-worker"], limit=2)
        second = due(client, people["demo-grid-worker"], limit=2, cursor=first["next_cursor"])
    keys = [i["household"]["id"] for i in first["items"] + second["items"]]
    assert sorted(keys) == sorted([alone, floating, never, hardship]) and len(set(keys)) == 4
    assert second["next_cursor"] is None

    # The other grid's worker sees only their own; the secretary sees the compound.
    with time_machine.travel(now, tick=False):
        theirs = due(client, people["demo-grid-worker-2"])
        compound = due(client, people["demo-secretary"], scope="compound")
        staff = due(client, people["demo-staff"], scope="grid", grid_id=_grid(app, alone))
    assert [i["household"]["id"] for i in theirs["items"]] == [elsewhere]
    assert {i["household"]["id"] for i in compound["items"]} == {alone, floating, never}
    assert {i["household"]["id"] for i in staff["items"]} == {alone, floating, never}


def _grid(app, household_id):
    from app.models import Household
    return in_app(app, lambda: db.session.get(Household, household_id).building.grid_id)


def test_due_scope_refusals(app, client, world, people, visit_rules):
    assert due(client, people["demo-resident"], 403)["code"] == "forbidden"
    assert due(client, people["demo-department"], 403)["code"] == "forbidden"
    other = world["compounds"]["盛世华城"]
    assert due(client, people["demo-secretary"], 403, scope="compound",
               compound_id=other)["code"] == "forbidden"
    assert due(client, people["demo-grid-worker"], 403, scope="grid",
               grid_id=world["grids"][1])["code"] == "forbidden"
    assert due(client, people["demo-staff"], 422, scope="compound")["code"] == "scope_required"
    assert due(client, people["demo-staff"], 404, scope="grid",
               grid_id=99999)["code"] == "scope_not_found"
    assert due(client, people["demo-grid-worker"], 422, scope="nearby")["code"] == \
        "validation_error"
    assert due(client, people["demo-grid-worker"], 422, cursor="WyJhIiwxXQ")["code"] == \
        "invalid_cursor"


def test_log_a_visit_and_read_the_history(app, client, world, people, address, tag, photo,
                                          log_visit):
    home = address("虹桥小区", "1号楼", "1", "101")
    tag(home, T.LIVING_ALONE, since=utcnow() - 30 * DAY)
    picture = photo(people["demo-grid-worker"])
    visit = log_visit("demo-grid-worker", household_id=home, kind="phone",
                      situation="老人身体尚好", needs="希望有人帮忙买药", problems="楼道灯坏了",
                      photo_ids=[picture])
    assert visit["kind"] == {"code": "phone", "name": "电话"}
    assert visit["visitor"] == {"id": world["users"]["demo-grid-worker"], "name": "赵网格"}
    assert visit["visitor_role"]["code"] == "grid_worker"
    assert visit["needs"] == "希望有人帮忙买药" and visit["problems"] == "楼道灯坏了"
    assert [p["id"] for p in visit["photos"]] == [picture]
    assert visit["wish_id"] is None and visit["incident_id"] is None
    # Visited now: no longer due.
    assert due(client, people["demo-grid-worker"])["items"] == []

    for openid in ("demo-grid-worker", "demo-secretary", "demo-staff", "demo-admin"):
        response = client.get("/api/v1/visits", query_string={"household_id": home},
                              headers=people[openid])
        assert response.status_code == 200, (openid, response.get_json())
        assert [v["id"] for v in response.get_json()["items"]] == [visit["id"]]
    url = visit["photos"][0]["url"]
    assert client.get(url, headers=people["demo-secretary"]).status_code == 200


def test_history_and_care_tags_never_leave_the_managing_roles(app, client, world, people,
                                                             address, tag, make_visit):
    home = address("虹桥小区", "1号楼", "1", "101")  # 张阿姨's own household
    tag(home, T.HARDSHIP, since=utcnow() - 30 * DAY)
    visit_id = make_visit(home, situation="家中困难，需要低保咨询")
    fresh = bearer(login(client, "someone-new"))
    for headers, who in ((people["demo-resident-2"], "neighbour"),
                         (people["demo-resident"], "the household's own resident"),
                         (people["demo-party-member"], "party member"),
                         (people["demo-secretary-2"], "another compound's secretary"),
                         (people["demo-grid-worker-2"], "another grid's worker"),
                         (people["demo-department"], "department"),
                         (people["demo-canteen"], "canteen staff"),
                         (fresh, "a fresh account")):
        history = client.get("/api/v1/visits", query_string={"household_id": home},
                             headers=headers)
        assert history.status_code == 403, who
        assert "低保" not in history.get_data(as_text=True)
        tags = client.get(f"/api/v1/households/{home}/care-tags", headers=headers)
        assert tags.status_code == 403, who
        assert "困难" not in tags.get_data(as_text=True)
        one = client.get(f"/api/v1/visits/{visit_id}", headers=headers)
        assert one.status_code == 404, who
        put = client.put(f"/api/v1/households/{home}/care-tags", json={"tags": []},
                         headers=headers)
        assert put.status_code == 403, who
    response = client.get(f"/api/v1/households/{home}/care-tags",
                          headers=people["demo-grid-worker"])
    assert response.get_json() == {"household_id": home,
                                   "tags": [{"code": "hardship", "name": "困难家庭"}]}
    # The household's own "me" shows no care tag either.
    me = client.get("/api/v1/me", headers=people["demo-resident"]).get_data(as_text=True)
    assert "hardship" not in me and "困难家庭" not in me
    assert client.get("/api/v1/visits", query_string={"household_id": 99999},
                      headers=people["demo-staff"]).status_code == 404


def test_a_care_tag_change_is_an_edit_of_the_household(app, client, people, address):
    """A console form showing the old tags becomes stale (its version moved on); putting the
    same tags again changes nothing, the version neither."""
    home = address("虹桥小区", "1号楼", "1", "101")
    def version():
        return in_app(app, lambda: db.session.get(Household, home).version)
    before = version()
    url, worker = f"/api/v1/households/{home}/care-tags", people["demo-grid-worker"]
    assert client.put(url, json={"tags": ["living_alone"]}, headers=worker).status_code == 200
    assert version() == before + 1
    assert client.put(url, json={"tags": ["living_alone"]}, headers=worker).status_code == 200
    assert version() == before + 1


def test_grid_worker_keeps_care_tags(app, client, people, address, visit_rules):
    home = address("虹桥小区", "2号楼", "2", "402")
    response = client.put(f"/api/v1/households/{home}/care-tags",
                          json={"tags": ["living_alone", "disabled", "living_alone"]},
                          headers=people["demo-grid-worker"])
    assert response.status_code == 200, response.get_json()
    assert [t["code"] for t in response.get_json()["tags"]] == ["disabled", "living_alone"]
    [item] = due(client, people["demo-grid-worker"])["items"]  # never visited: due now
    assert item["household"]["id"] == home and item["every_days"] == 7
    bad = client.put(f"/api/v1/households/{home}/care-tags", json={"tags": ["rich"]},
                     headers=people["demo-grid-worker"])
    assert bad.status_code == 422 and bad.get_json()["code"] == "validation_error"


def test_a_visit_raises_a_wish_for_the_household(app, client, world, people, address, tag,
                                                 log_visit):
    home = address("虹桥小区", "1号楼", "1", "101")
    visit = log_visit("demo-grid-worker", household_id=home, situation="老人腿脚不便",
                      wish={"title": "想要一副老花镜", "description": "看不清药盒上的字",
                            "category": "supplies"})
    wish = in_app(app, lambda: db.session.get(Wish, visit["wish_id"]))
    assert wish.household_id == home and wish.on_behalf and wish.consent_recorded
    assert wish.poster_id == world["users"]["demo-grid-worker"] and wish.requester_id is None
    assert wish.status.value == "pending_review"
    [review] = notified(app, world["users"]["demo-secretary"], "wish_attention")
    assert review["wish_id"] == wish.id


def test_a_visit_reports_an_incident_at_the_households_building(app, client, world, people,
                                                                address, categories,
                                                                log_visit):
    home = address("虹桥小区", "2号楼", "1", "101")
    visit = log_visit("demo-grid-worker", household_id=home, problems="楼道灯坏了",
                      incident={"category": "facility", "description": "2号楼1单元楼道灯不亮"})
    incident = in_app(app, lambda: db.session.get(Incident, visit["incident_id"]))
    assert incident.building_id == world["buildings"][("虹桥小区", "2号楼")]
    assert incident.reporter_id == world["users"]["demo-grid-worker"]
    assert incident.description == "2号楼1单元楼道灯不亮"


def test_follow_up_refusals_change_nothing(app, client, people, address, categories,
                                           log_visit, floating_member):
    home = address("虹桥小区", "1号楼", "1", "101")
    wish = {"title": "想要一副老花镜", "description": "看不清字", "category": "supplies"}
    incident = {"category": "facility", "description": "灯坏了"}
    both = log_visit("demo-grid-worker", 422, household_id=home, wish=wish, incident=incident)
    assert both["code"] == "one_follow_up_only"
    unknown = log_visit("demo-grid-worker", 422, household_id=home,
                        incident={"category": "nonsense", "description": "灯坏了"})
    assert unknown["code"] == "unknown_category"
    extra = log_visit("demo-grid-worker", 422, household_id=home,
                      wish={**wish, "household_id": 1})
    assert extra["code"] == "validation_error"
    staff_wish = log_visit("demo-staff", 403, household_id=home, wish=wish)
    assert staff_wish["code"] == "forbidden"  # posting a wish on behalf is not staff's
    member = log_visit("demo-secretary", 422, member_id=floating_member, wish=wish)
    assert member["code"] == "follow_up_needs_household"
    assert count(app, Visit) == 0 and count(app, Wish) == 0 and count(app, Incident) == 0


def test_visit_input_refusals(app, client, people, address, log_visit, visit_rules):
    home = address("虹桥小区", "1号楼", "1", "101")
    future = (utcnow() + timedelta(hours=2)).isoformat()
    old = (utcnow() - 40 * DAY).isoformat()
    assert log_visit("demo-grid-worker", 422, household_id=home,
                     visited_at=future)["code"] == "visit_in_future"
    assert log_visit("demo-grid-worker", 422, household_id=home,
                     visited_at=old)["code"] == "visit_too_old"
    assert log_visit("demo-grid-worker", 422, household_id=home,
                     visited_at="3000-01-01T00:00:00+08:00")["code"] == "validation_error"
    assert log_visit("demo-grid-worker", 422, household_id=home, kind="letter")["code"] == \
        "validation_error"
    assert log_visit("demo-grid-worker", 422, household_id=home, situation="  ")["code"] == \
        "validation_error"
    assert log_visit("demo-grid-worker", 422)["code"] == "visit_subject_required"
    assert log_visit("demo-grid-worker", 404, household_id=99999)["code"] == \
        "household_not_found"
    assert log_visit("demo-grid-worker", 422, household_id=home,
                     photo_ids=[12345])["code"] == "invalid_photos"
    for openid in ("demo-resident-2", "demo-grid-worker-2", "demo-secretary-2",
                   "demo-department"):
        assert log_visit(openid, 403, household_id=home)["code"] == "forbidden", openid
    assert count(app, Visit) == 0


def test_a_repeated_idempotency_key_logs_one_visit(app, client, people, address, log_visit,
                                                   visit_rules):
    home = address("虹桥小区", "1号楼", "1", "101")
    key = {"Idempotency-Key": "visit-0001"}
    first = log_visit("demo-grid-worker", household_id=home, headers=key)
    again = client.post("/api/v1/visits", headers={**people["demo-grid-worker"], **key},
                        json={"household_id": home, "kind": "home",
                              "situation": "老人身体尚好，独自居住"})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first["id"] and count(app, Visit) == 1


def test_floating_members_monthly_contact_is_the_secretarys(app, client, world, people,
                                                            floating_member, make_visit,
                                                            log_visit):
    now = utcnow()
    make_visit(member_id=floating_member, visitor="demo-secretary", at=now - 31 * DAY,
               kind=__import__("app.models", fromlist=["VisitKind"]).VisitKind.PHONE)
    with time_machine.travel(now, tick=False):
        [item] = due(client, people["demo-secretary"])["items"]
        assert due(client, people["demo-grid-worker"])["items"] == []
    assert item["subject"]["code"] == "floating_member"
    assert item["member"] == {"id": floating_member, "name": "陈流动"}
    assert item["owed_by"]["code"] == "secretary" and item["overdue"] is True
    assert "13911112222" not in str(item)
    # Whoever may not contact them hears what an id of nobody in particular gets: a 403
    # would tell them who is a floating party member.
    for outsider in ("demo-grid-worker", "demo-secretary-2", "demo-resident"):
        assert log_visit(outsider, 404, member_id=floating_member, kind="phone")[
            "code"] == "member_not_found"
        listed = client.get("/api/v1/visits", query_string={"member_id": floating_member},
                            headers=people[outsider])
        assert (listed.status_code, listed.get_json()["code"]) == (404, "member_not_found")
    assert log_visit("demo-secretary", 404, member_id=world["users"]["demo-resident"])[
        "code"] == "member_not_found"
    contact = log_visit("demo-secretary", member_id=floating_member, kind="video",
                        situation="在外务工，近况良好", needs="希望参加线上组织生活")
    assert contact["subject"]["code"] == "floating_member"
    assert contact["member_id"] == floating_member
    assert due(client, people["demo-secretary"])["items"] == []
    history = client.get("/api/v1/visits", query_string={"member_id": floating_member},
                         headers=people["demo-secretary"]).get_json()
    assert [v["id"] for v in history["items"]][0] == contact["id"]
    assert len(history["items"]) == 2


def test_visit_rules_are_configurable_by_the_admin(app, client, people, address, tag):
    home = address("虹桥小区", "1号楼", "1", "101")
    tag(home, T.FLOATING, since=utcnow() - 10 * DAY)
    rules = client.get("/api/v1/visit-rules", headers=people["demo-staff"]).get_json()
    floating = next(r for r in rules if r["care_tag"] and r["care_tag"]["code"] == "floating")
    assert floating["every_days"] == 30 and floating["owed_by"]["code"] == "grid_worker"
    refused = client.put(f"/api/v1/visit-rules/{floating['id']}", json={"every_days": 7},
                         headers=people["demo-staff"])
    assert refused.status_code == 403
    assert client.get("/api/v1/visit-rules", headers=people["demo-resident"]).status_code == 403
    # Never visited, registered 10 days ago: due at once anyway. Switched off: not due.
    assert len(due(client, people["demo-grid-worker"])["items"]) == 1
    off = client.put(f"/api/v1/visit-rules/{floating['id']}", json={"active": False},
                     headers=people["demo-admin"])
    assert off.status_code == 200 and off.get_json()["active"] is False
    assert due(client, people["demo-grid-worker"])["items"] == []
    bad = client.put(f"/api/v1/visit-rules/{floating['id']}", json={"every_days": 0},
                     headers=people["demo-admin"])
    assert bad.status_code == 422


def test_the_due_list_reads_a_fixed_number_of_statements(app, client, people, world, tag,
                                                         make_visit, address):
    from tests.helpers import counting_queries
    now = utcnow()

    def page_statements(n_households):
        rooms = [(b, u, f"{f}0{u}") for b in ("1号楼", "2号楼", "3号楼") for u in ("1", "2")
                 for f in range(1, 5)][:n_households]
        for building, unit, room in rooms:
            home = address("虹桥小区", building, unit, room)
            tag(home, T.LIVING_ALONE, since=now - 60 * DAY)
            make_visit(home, at=now - 9 * DAY)
        with counting_queries(app) as statements:
            body = due(client, people["demo-grid-worker"], limit=100)
        assert len(body["items"]) == n_households
        return len(statements)

    few = page_statements(3)
    many = page_statements(24)
    # The token as a Principal (one Core query), then the page (households and floating
    # members, due time, last visit, place: one statement): two, whatever the number of
    # subjects and visits.
    assert many == few == 2, (few, many)
    # scope=grid adds the grid's own row (its community, for the check): three.
    with counting_queries(app) as statements:
        response = client.get("/api/v1/visits/due", headers=people["demo-grid-worker"],
                              query_string={"scope": "grid", "grid_id": world["grids"][0],
                                            "limit": 100})
    assert response.status_code == 200 and len(response.get_json()["items"]) == 24
    assert len(statements) == 3, len(statements)


def test_the_history_reads_a_fixed_number_of_statements(app, client, people, address,
                                                        make_visit, visit_rules):
    from tests.helpers import counting_queries
    home = address("虹桥小区", "1号楼", "1", "101")

    def statements_for(n):
        for _ in range(n):
            make_visit(home, visitor="demo-secretary")
        with counting_queries(app) as statements:
            body = client.get("/api/v1/visits", query_string={"household_id": home,
                                                              "limit": 100},
                              headers=people["demo-staff"]).get_json()
        return len(body["items"]), len(statements)

    assert statements_for(2)[1] == statements_for(10)[1]


def test_visit_notes_skip_content_security_but_follow_ups_do_not(app, client, people, address,
                                                                 log_visit, sandbox):
    """Visit notes are staff's private working notes (docs/domain.md, "Visits"): they are not
    sent to WeChat's content check. A wish raised in the same call is public and is checked:
    risky text refuses the whole call, the visit included."""
    home = address("虹桥小区", "1号楼", "1", "101")
    before = sandbox.calls().get("wxa/msg_sec_check", 0)
    visit = log_visit("demo-grid-worker", household_id=home, situation="老人说起违禁物品的事",
                      needs="待审的补助材料", problems="邻里有矛盾")
    assert visit["situation"] == "老人说起违禁物品的事" and visit["needs"] == "待审的补助材料"
    assert sandbox.calls().get("wxa/msg_sec_check", 0) == before  # nothing asked
    risky = log_visit("demo-grid-worker", 422, household_id=home, situation="老人身体尚好",
                      wish={"title": "违禁", "description": "违禁", "category": "supplies"})
    assert risky["code"] == "content_risky"
    assert sandbox.calls().get("wxa/msg_sec_check", 0) == before + 1
    assert count(app, Visit) == 1 and count(app, Wish) == 0


def test_due_pages_mix_households_and_members_in_due_order(app, client, people, address, tag,
                                                          make_visit, floating_member,
                                                          log_visit):
    """Paged in SQL: pages of two over households and a 流动党员 (scope=compound), with ties
    on the due time (households registered together, never visited) ordered by id, cover
    the list once; a visit today takes its household out of the next read."""
    now = utcnow()
    rooms = [("1号楼", "1", "101"), ("1号楼", "2", "102"), ("2号楼", "1", "201"),
             ("3号楼", "1", "301"), ("3号楼", "2", "302")]
    homes = [address("虹桥小区", *room) for room in rooms]
    for home in homes[:3]:  # never visited, registered at the same moment: one due time
        tag(home, T.DISABLED, since=now - 40 * DAY)
    tag(homes[3], T.LIVING_ALONE, since=now - 90 * DAY)
    make_visit(homes[3], at=now - 9 * DAY)  # due two days ago
    tag(homes[4], T.FLOATING, since=now - 90 * DAY)
    make_visit(homes[4], at=now - 29 * DAY)  # due tomorrow: not listed
    make_visit(member_id=floating_member, visitor="demo-secretary", at=now - 45 * DAY)
    with time_machine.travel(now, tick=False):
        whole = due(client, people["demo-secretary"], scope="compound", limit=100)
        keys, cursor = [], None
        while True:
            page = due(client, people["demo-secretary"], scope="compound", limit=2,
                       **({"cursor": cursor} if cursor else {}))
            assert len(page["items"]) <= 2
            keys += [i["key"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    # due 40 days ago (three tied), 15 days ago (the member), two days ago
    expected = [*(f"household:{h}" for h in sorted(homes[:3])), f"member:{floating_member}",
                f"household:{homes[3]}"]
    assert [i["key"] for i in whole["items"]] == expected
    assert keys == expected
    assert [i["due_at"] for i in whole["items"]] == sorted(i["due_at"] for i in whole["items"])
    # A cursor naming something that is not a subject key is refused.
    from app.services.pagination import encode_cursor
    for bad in ([1.5, "member:x"], [1.5, "visit:3"], [True, "member:1"], [1e300, "member:1"]):
        assert due(client, people["demo-secretary"], 422, scope="compound",
                   cursor=encode_cursor(bad))["code"] == "invalid_cursor"
    log_visit("demo-grid-worker", household_id=homes[1])
    after = due(client, people["demo-secretary"], scope="compound", limit=100)
    assert [i["key"] for i in after["items"]] == [k for k in expected
                                                  if k != f"household:{homes[1]}"]


def test_the_most_frequent_active_rule_wins(app, client, people, address, tag, make_visit):
    from app.models import VisitRule, VisitSubject

    def set_rule(care_tag, **values):
        def work():
            db.session.execute(sa.update(VisitRule).where(
                VisitRule.subject == VisitSubject.HOUSEHOLD, VisitRule.care_tag == care_tag)
                .values(**values))
            db.session.commit()
        in_app(app, work)

    now = utcnow()
    home = address("虹桥小区", "1号楼", "1", "101")
    tag(home, T.LIVING_ALONE, T.HARDSHIP, T.FLOATING, since=now - 90 * DAY)
    make_visit(home, at=now - 4 * DAY)
    set_rule(T.HARDSHIP, every_days=3)  # now the most frequent of the three
    with time_machine.travel(now, tick=False):
        [item] = due(client, people["demo-grid-worker"])["items"]
        assert item["every_days"] == 3 and item["overdue_days"] in (0, 1)
        assert {t["code"] for t in item["care_tags"]} == {"living_alone", "hardship",
                                                          "floating"}
        set_rule(T.HARDSHIP, active=False)  # back to weekly: due in three days
        assert due(client, people["demo-grid-worker"])["items"] == []
    with time_machine.travel(now + 3 * DAY, tick=False):
        [item] = due(client, people["demo-grid-worker"])["items"]
    assert item["every_days"] == 7
    assert {t["code"] for t in item["care_tags"]} == {"living_alone", "floating"}


def test_due_by_the_end_of_the_local_day(app, client, people, address, tag, make_visit):
    """Due means due before the next midnight in Asia/Shanghai, to the microsecond (SQLite
    computes the due time from text)."""
    from datetime import datetime

    from app.timeutil import SHANGHAI
    late = address("虹桥小区", "1号楼", "1", "101")
    midnight = address("虹桥小区", "1号楼", "2", "102")
    for home in (late, midnight):
        tag(home, T.LIVING_ALONE, since=datetime(2026, 2, 1, tzinfo=SHANGHAI))
    make_visit(late, at=datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=SHANGHAI))
    make_visit(midnight, at=datetime(2026, 3, 2, tzinfo=SHANGHAI))

    def listed(*moment):
        with time_machine.travel(datetime(*moment, tzinfo=SHANGHAI), tick=False):
            return {i["household"]["id"]: i for i in due(client, people["demo-grid-worker"])[
                "items"]}

    assert listed(2026, 3, 7, 23, 59, 59) == {}
    first = listed(2026, 3, 8, 0, 0, 0)  # the local day 3-8: due at 23:59:59.999999
    assert set(first) == {late} and first[late]["overdue"] is False
    assert first[late]["due_at"].startswith("2026-03-08T15:59:59.999999")
    assert set(listed(2026, 3, 8, 23, 59, 59)) == {late}  # midnight's is due at 3-9 00:00
    both = listed(2026, 3, 9, 0, 0, 0)
    assert set(both) == {late, midnight}
    assert both[late]["overdue"] is True and both[late]["overdue_days"] == 1
    assert both[midnight]["overdue"] is False and both[midnight]["overdue_days"] == 0
