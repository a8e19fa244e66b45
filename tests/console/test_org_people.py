"""The console's org tree, households, people and role grants, the 双报到 roster, the
办事指南 catalog and rewards, over HTTP with console sessions: every page and write per role,
another community's staff refused, care tags and phones only for those who may see them,
the optimistic version check (409 "已被他人修改", nothing changed) and the audit rows."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    Building,
    CareTag,
    Compound,
    ConsoleAudit,
    Grid,
    GuideEntry,
    Household,
    HouseholdTag,
    PartyRegistration,
    RegistrationStatus,
    Reward,
    Role,
    RoleGrant,
    ScopeKind,
    User,
)
from tests.console.conftest import csrf_in, poll
from tests.console.test_signin import STAFF_SIDE
from tests.fixtures.points import make_reward
from tests.helpers import in_app

PAGES = ["/console/org", "/console/people", "/console/party", "/console/guides",
         "/console/rewards"]
VERSION = re.compile(r'name="version" value="(\d+)"')
FORM_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
PHONE, STAFF_PHONE = "13812345678", "13900001111"


def get(app, model, row_id):
    def read():
        row = db.session.get(model, row_id)
        if row is not None:
            db.session.expunge(row)
        return row
    return in_app(app, read)


def version_in(html: str) -> int:
    found = VERSION.search(html)
    assert found, html[:500]
    return int(found.group(1))


def audits(app, action: str) -> list[ConsoleAudit]:
    return in_app(app, lambda: [(a.target_kind, a.target_id, a.before, a.after) for a in
                                db.session.scalars(sa.select(ConsoleAudit).where(
                                    ConsoleAudit.action == action).order_by(ConsoleAudit.id))])


def flash_of(page) -> str:
    found = re.findall(r'<p class="flash (\w+)" role="alert">([^<]*)</p>', page.text)
    return " ".join(f"{kind}:{text}" for kind, text in found)


class Console:
    """A signed-in console browser: GET a page, POST a form with the page's CSRF token."""

    def __init__(self, client):
        self.client = client
        self.csrf = csrf_in(client.get("/console/").text)

    def get(self, path: str, **kw):
        return self.client.get(path, **kw)

    def post(self, path: str, data: dict | None = None, follow: bool = True):
        """POST with the session's CSRF token, or with `data`'s own (read from a form)."""
        return self.client.post(path, data={"csrf_token": self.csrf, **(data or {})},
                                headers={"Referer": "http://localhost" + path},
                                follow_redirects=follow)


@pytest.fixture
def console(console_login):
    cache = {}

    def open_as(openid: str) -> Console:
        if openid not in cache:
            cache[openid] = Console(console_login(openid))
        return cache[openid]
    return open_as


@pytest.fixture
def elsewhere(app, client, other_community, start_login):
    """钱社工, staff of 东关社区 (another community), signed in to the console; with a
    compound, building and a household tagged 困难家庭 there: (console, ids)."""
    community_id, headers = other_community

    def work():
        grid = Grid(community_id=community_id, name="东关网格")
        compound = Compound(community_id=community_id, name="东关小区")
        db.session.add_all([grid, compound])
        db.session.flush()
        building = Building(compound_id=compound.id, grid_id=grid.id, name="9号楼")
        db.session.add(building)
        db.session.flush()
        household = Household(building_id=building.id, unit="1", room="909")
        household.tags.append(HouseholdTag(tag=CareTag.LIVING_ALONE))
        db.session.add(household)
        db.session.commit()
        return {"community": community_id, "compound": compound.id, "building": building.id,
                "grid": grid.id, "household": household.id}
    ids = in_app(app, work)
    browser = app.test_client()
    nonce, csrf = start_login(browser)
    assert client.post("/api/v1/console/approve", headers=headers,
                       json={"nonce": nonce}).status_code == 200
    assert poll(browser, nonce, csrf).status_code == 204
    return Console(browser), ids


@pytest.fixture
def tagged(app, world):
    """张阿姨's household (虹桥小区 1号楼 1-101) tagged 困难家庭, her phone and the grid
    worker's phone set: the household id."""
    def work():
        user = db.session.get(User, world["users"]["demo-resident"])
        user.phone = PHONE
        db.session.get(User, world["users"]["demo-grid-worker"]).phone = STAFF_PHONE
        db.session.add(HouseholdTag(household_id=user.household_id, tag=CareTag.HARDSHIP))
        db.session.commit()
        return user.household_id
    return in_app(app, work)


# --- pages per role ------------------------------------------------------------------------

def test_every_page_for_every_staff_side_role(console, world):
    for openid in STAFF_SIDE:
        browser = console(openid)
        for path in PAGES:
            page = browser.get(path)
            assert page.status_code == 200, (openid, path, page.text[:300])
            assert page.mimetype == "text/html" and "<html" in page.text
            assert set(FORM_CSRF.findall(page.text)) == {browser.csrf}, (openid, path)
    staff = console("demo-staff").get("/console/org").text
    for name in ("虹桥小区", "盛世华城", "第一网格", "第二网格"):
        assert name in staff
    assert 'id="new-compound"' in staff and 'class="excel-actions"' in staff
    # A grid worker sees only their grid's buildings; a secretary only their compound.
    worker = console("demo-grid-worker").get("/console/org").text
    assert "虹桥小区" in worker and "盛世华城" not in worker and "第二网格" not in worker
    assert 'id="new-compound"' not in worker
    secretary = console("demo-secretary-2").get("/console/org").text
    assert "盛世华城" in secretary and "虹桥小区" not in secretary
    for openid in ("demo-department", "demo-canteen"):
        assert "无权查看组织架构" in console(openid).get("/console/org").text
        assert "无权查看人员" in console(openid).get("/console/people").text
    for openid in ("demo-grid-worker", "demo-secretary", "demo-department", "demo-canteen"):
        assert "只有社区工作者" in console(openid).get("/console/party").text
        assert "只有社区工作者" in console(openid).get("/console/guides").text
        assert "只有社区工作者" in console(openid).get("/console/rewards").text
    nav = console("demo-staff").get("/console/").text
    assert "组织架构" in nav and "双报到" in nav and "办事指南" in nav and "积分奖品" in nav
    assert "组织架构" not in console("demo-canteen").get("/console/").text


def test_a_resident_never_gets_these_pages(app, client, people, start_login, world):
    browser = app.test_client()
    nonce, _ = start_login(browser)
    refused = client.post("/api/v1/console/approve", headers=people["demo-resident"],
                          json={"nonce": nonce})
    assert refused.status_code == 403
    hongqiao = world["compounds"]["虹桥小区"]
    for path in PAGES + [f"/console/org/compounds/{hongqiao}/households"]:
        page = browser.get(path)
        assert page.status_code == 302 and page.headers["Location"] == "/console/login"


def test_another_communitys_staff_sees_and_changes_nothing_here(app, console, elsewhere,
                                                                 world, tagged):
    other, ids = elsewhere
    hongqiao = world["compounds"]["虹桥小区"]
    building = world["buildings"][("虹桥小区", "1号楼")]
    tree = other.get("/console/org").text
    assert "东关小区" in tree and "虹桥小区" not in tree and "盛世华城" not in tree
    assert "困难家庭" not in other.get("/console/people").text
    for path in (f"/console/org?community={world['community']}",
                 f"/console/org/compounds/{hongqiao}",
                 f"/console/org/compounds/{hongqiao}/households",
                 f"/console/org/buildings/{building}",
                 f"/console/org/grids/{world['grids'][0]}",
                 f"/console/households/{tagged}",
                 f"/console/party?community={world['community']}",
                 f"/console/guides?community={world['community']}"):
        page = other.get(path)
        assert page.status_code in (403, 404), path
        assert "虹桥小区" not in page.text and "困难家庭" not in page.text and PHONE not in page.text
    # Writes into 示范社区: refused, nothing changed.
    before = get(app, Compound, hongqiao)
    page = other.post(f"/console/org/compounds/{hongqiao}",
                      {"name": "改名", "address": "", "version": before.version})
    assert "error:" in flash_of(page) and get(app, Compound, hongqiao).name == "虹桥小区"
    page = other.post("/console/org/compounds", {"community_id": world["community"],
                                                 "name": "偷建小区"})
    assert "error:" in flash_of(page)
    page = other.post(f"/console/households/{tagged}", {"head_name": "X", "version": 1})
    assert "error:" in flash_of(page)
    assert get(app, Household, tagged).head_name is None
    page = other.post("/console/people/grants", {
        "user_id": world["users"]["demo-resident-2"], "role": "grid_worker",
        "scope": f"grid:{world['grids'][0]}"})
    assert "您无权授予" in flash_of(page)
    grant_id = in_app(app, lambda: db.session.scalar(sa.select(RoleGrant.id).where(
        RoleGrant.user_id == world["users"]["demo-grid-worker"])))
    assert "error:" in flash_of(other.post(f"/console/people/grants/{grant_id}/revoke"))
    assert get(app, RoleGrant, grant_id) is not None
    assert audits(app, "compound_update") == [] and audits(app, "role_revoke") == []
    # ... and 示范社区's staff do not see 东关社区 either.
    staff = console("demo-staff")
    assert "东关小区" not in staff.get("/console/org").text
    assert staff.get(f"/console/org/compounds/{ids['compound']}").status_code == 404
    assert staff.get(f"/console/households/{ids['household']}").status_code in (403, 404)


# --- care tags and phones --------------------------------------------------------------------

def test_care_tags_only_for_those_who_manage_the_household(console, world, tagged):
    hongqiao, shengshi = world["compounds"]["虹桥小区"], world["compounds"]["盛世华城"]
    for openid in ("demo-staff", "demo-secretary", "demo-grid-worker", "demo-admin"):
        page = console(openid).get(f"/console/org/compounds/{hongqiao}/households")
        assert page.status_code == 200 and "困难家庭" in page.text, openid
        assert f'class="household" data-id="{tagged}"' in page.text
        household = console(openid).get(f"/console/households/{tagged}")
        assert household.status_code == 200
        assert 'value="hardship" checked' in household.text
    for openid in ("demo-secretary-2", "demo-grid-worker-2", "demo-department", "demo-canteen"):
        browser = console(openid)
        page = browser.get(f"/console/org/compounds/{hongqiao}/households")
        assert page.status_code == 404 and "困难家庭" not in page.text, openid
        household = browser.get(f"/console/households/{tagged}")
        assert household.status_code in (403, 404) and "困难家庭" not in household.text
        assert "困难家庭" not in browser.get("/console/people").text
        assert "困难家庭" not in browser.get("/console/org").text
    own = console("demo-secretary-2").get(f"/console/org/compounds/{shengshi}/households")
    assert own.status_code == 200 and "困难家庭" not in own.text  # their own, untagged ones


def test_phones_masked_unless_the_viewer_manages_the_household(console, world, tagged):
    hongqiao = world["compounds"]["虹桥小区"]
    for openid in ("demo-staff", "demo-secretary", "demo-grid-worker"):
        people_page = console(openid).get("/console/people").text
        assert PHONE in people_page, openid  # she lives in their scope
        # The grid worker's own number: no household anyone manages, so masked.
        if openid != "demo-grid-worker":
            assert STAFF_PHONE not in people_page and "139****1111" in people_page, openid
        assert PHONE in console(openid).get(f"/console/org/compounds/{hongqiao}/households").text
    admin = console("demo-admin").get("/console/people").text
    assert PHONE in admin and STAFF_PHONE in admin
    # Another grid's worker does not even list her; 盛世华城's secretary neither.
    for openid in ("demo-grid-worker-2", "demo-secretary-2"):
        page = console(openid).get("/console/people").text
        assert PHONE not in page and "138****5678" not in page
        assert f'class="person" data-id="{world["users"]["demo-resident"]}"' not in page


# --- the org tree ----------------------------------------------------------------------------

def test_staff_create_and_edit_the_tree_audited(app, console, world):
    staff = console("demo-staff")
    page = staff.post("/console/org/compounds", {"community_id": world["community"],
                                                 "name": "新城小区", "address": "新城路 1 号"})
    assert page.status_code == 200 and "新城小区" in page.text
    compound_id = in_app(app, lambda: db.session.scalar(
        sa.select(Compound.id).where(Compound.name == "新城小区")))
    staff.post("/console/org/grids", {"community_id": world["community"], "name": "第三网格"})
    grid_id = in_app(app, lambda: db.session.scalar(sa.select(Grid.id).where(Grid.name == "第三网格")))
    page = staff.post("/console/org/buildings", {"compound_id": compound_id, "name": "A座",
                                                 "grid_id": grid_id, "lat": "38.7", "lng": "111.5"})
    building_id = in_app(app, lambda: db.session.scalar(
        sa.select(Building.id).where(Building.name == "A座")))
    staff.post("/console/org/buildings", {"compound_id": compound_id, "name": "B座",
                                          "grid_id": grid_id})
    assert "A座" in staff.get("/console/org").text
    [(kind, target, before, after)] = audits(app, "compound_create")
    assert (kind, target, before) == ("compounds", compound_id, None)
    assert after == {"name": "新城小区", "address": "新城路 1 号", "version": 1}
    assert audits(app, "building_create")[0][3]["grid_id"] == grid_id
    assert audits(app, "building_create")[0][3]["lat"] == 38.7

    edit = staff.get(f"/console/org/buildings/{building_id}")
    version = version_in(edit.text)
    page = staff.post(f"/console/org/buildings/{building_id}", {
        "name": "A座", "grid_id": world["grids"][0], "lat": "38.71", "lng": "", "version": version})
    assert "ok:楼栋已保存" in flash_of(page)
    saved = get(app, Building, building_id)
    assert (saved.grid_id, saved.lat, saved.lng) == (world["grids"][0], 38.71, None)
    assert saved.version > version
    [(_, target, before, after)] = audits(app, "building_update")
    assert target == building_id and before["grid_id"] == grid_id and before["lat"] == 38.7
    assert after["grid_id"] == world["grids"][0] and after["lng"] is None
    # A grid of another community, bad coordinates, a taken name: refused, nothing changed.
    for data, message in (({"lat": "abc"}, "纬度应为数字"), ({"lat": "200"}, "纬度应在"),
                          ({"grid_id": "999999"}, "请选择本社区的网格"),
                          ({"name": "B座"}, "已有同名的楼栋")):
        form = {"name": "A座", "grid_id": world["grids"][0], "lat": "", "lng": "",
                "version": get(app, Building, building_id).version, **data}
        page = staff.post(f"/console/org/buildings/{building_id}", form)
        assert "error:" in flash_of(page), data
        if message:
            assert message in flash_of(page)
    hq1 = world["buildings"][("虹桥小区", "1号楼")]
    hq = world["compounds"]["虹桥小区"]
    page = staff.post("/console/org/buildings", {"compound_id": hq, "name": "1号楼",
                                                 "grid_id": world["grids"][0]})
    assert "已有同名的楼栋" in flash_of(page)
    assert get(app, Building, building_id).lat == 38.71 and len(audits(app, "building_update")) == 1
    assert get(app, Building, hq1).name == "1号楼"


@pytest.mark.parametrize("openid", ["demo-secretary", "demo-grid-worker"])
def test_only_staff_edit_the_tree(app, console, world, openid):
    browser = console(openid)
    hq = world["compounds"]["虹桥小区"]
    building = world["buildings"][("虹桥小区", "1号楼")]
    page = browser.get(f"/console/org/buildings/{building}")
    assert page.status_code == 200 and 'id="edit-building"' not in page.text
    version = get(app, Building, building).version
    page = browser.post(f"/console/org/buildings/{building}", {
        "name": "改名楼", "grid_id": world["grids"][0], "version": version})
    assert "error:没有权限进行此操作" in flash_of(page)
    page = browser.post("/console/org/compounds", {"community_id": world["community"],
                                                   "name": "X"})
    assert "error:" in flash_of(page)
    page = browser.post(f"/console/org/compounds/{hq}", {"name": "X", "version": 1})
    assert "error:" in flash_of(page)
    assert get(app, Building, building).name == "1号楼" and get(app, Compound, hq).name == "虹桥小区"
    assert in_app(app, lambda: db.session.scalar(sa.select(sa.func.count()).select_from(
        ConsoleAudit).where(ConsoleAudit.action.like("%_update")))) == 0


# --- households --------------------------------------------------------------------------------

def test_grid_worker_edits_a_household_and_its_tags_audited(app, console, world, tagged):
    worker = console("demo-grid-worker")
    page = worker.get(f"/console/households/{tagged}")
    assert "张阿姨" in page.text and PHONE in page.text
    version = version_in(page.text)
    page = worker.post(f"/console/households/{tagged}", {
        "head_name": "张桂兰", "head_phone": "13712345678", "tags": ["living_alone", "empty_nest"],
        "version": version})
    assert "ok:住户信息已保存" in flash_of(page)
    assert "独居老人" in page.text and "困难家庭" not in page.text.split("关爱标签")[0]
    tags = in_app(app, lambda: sorted(t.value for t in db.session.scalars(
        sa.select(HouseholdTag.tag).where(HouseholdTag.household_id == tagged))))
    assert tags == ["empty_nest", "living_alone"]
    saved = get(app, Household, tagged)
    assert (saved.head_name, saved.head_phone) == ("张桂兰", "13712345678")
    [(kind, target, before, after)] = audits(app, "household_update")
    assert (kind, target) == ("households", tagged)
    assert before == {"head_name": None, "head_phone": None, "tags": ["hardship"],
                      "version": version}
    assert after["head_name"] == "张桂兰" and after["tags"] == ["empty_nest", "living_alone"]
    assert after["head_phone"] == "137****5678"  # the audit keeps no copy of the number
    assert after["version"] > version
    # A tag that does not exist, a phone that is not one: refused, nothing changed.
    page = worker.post(f"/console/households/{tagged}", {"head_name": "Y", "tags": ["rich"],
                                                         "version": after["version"]})
    assert "请选择有效的关爱标签" in flash_of(page) and get(app, Household, tagged).head_name == "张桂兰"
    page = worker.post(f"/console/households/{tagged}", {"head_name": "Y", "head_phone": "=1+2",
                                                         "version": after["version"]})
    assert "户主电话格式不正确" in flash_of(page)
    assert get(app, Household, tagged).head_phone == "13712345678"
    # Another grid's worker: refused.
    other = console("demo-grid-worker-2")
    page = other.post(f"/console/households/{tagged}", {"head_name": "Z",
                                                        "version": after["version"]})
    assert "error:" in flash_of(page) and get(app, Household, tagged).head_name == "张桂兰"
    assert len(audits(app, "household_update")) == 1


# --- the optimistic version check ------------------------------------------------------------

def _stale_cases(app, world):
    guide = in_app(app, lambda: _guide(world["community"]))
    reward = make_reward(app, world["community"], cost=10, stock=5)
    hq1 = world["buildings"][("虹桥小区", "1号楼")]
    household = in_app(app, lambda: db.session.scalar(sa.select(Household.id).where(
        Household.building_id == hq1, Household.room == "101", Household.unit == "1")))
    return [
        (Compound, world["compounds"]["虹桥小区"], "/console/org/compounds/{}",
         lambda n: {"name": f"虹桥小区{n}", "address": "x"}, "name"),
        (Grid, world["grids"][0], "/console/org/grids/{}", lambda n: {"name": f"网格{n}"}, "name"),
        (Building, hq1, "/console/org/buildings/{}",
         lambda n: {"name": f"{n}号", "grid_id": world["grids"][0]}, "name"),
        (Household, household, "/console/households/{}", lambda n: {"head_name": f"户主{n}"},
         "head_name"),
        (GuideEntry, guide, "/console/guides/{}",
         lambda n: {"title": f"办理居住证{n}", "answer": "带身份证到服务站"}, "title"),
        (Reward, reward, "/console/rewards/{}",
         lambda n: {"name": f"大米{n}", "cost": "20", "stock": "9", "pickup_place": "服务站",
                    "active": "1"}, "name"),
    ]


def _guide(community_id: int) -> int:
    from datetime import date
    entry = GuideEntry(community_id=community_id, title="办理居住证", answer="带身份证",
                       updated_on=date(2026, 11, 1), synonyms=[])
    db.session.add(entry)
    db.session.commit()
    return entry.id


def test_a_stale_form_is_refused_409_and_changes_nothing(app, console, world):
    staff = console("demo-staff")
    for model, row_id, path, form, field in _stale_cases(app, world):
        url = path.format(row_id)
        page = staff.get(url)
        assert page.status_code == 200, url
        shown = version_in(page.text)
        tokens = set(FORM_CSRF.findall(page.text))
        assert tokens == {staff.csrf}, url  # every form on the page carries the real token
        first = staff.post(url, {**form(1), "version": shown})
        assert "ok:" in flash_of(first), (url, flash_of(first))
        assert getattr(get(app, model, row_id), field) == form(1)[field]
        audited = in_app(app, lambda: db.session.scalar(
            sa.select(sa.func.count()).select_from(ConsoleAudit)))
        # The second tab still holds the old version.
        stale = staff.post(url, {**form(2), "version": shown}, follow=False)
        assert stale.status_code == 409, (url, stale.status_code)
        assert "已被他人修改" in stale.text and stale.mimetype == "text/html"
        row = get(app, model, row_id)
        assert getattr(row, field) == form(1)[field], url  # unchanged
        assert version_in(stale.text) == row.version  # the page shows the current version
        assert in_app(app, lambda: db.session.scalar(
            sa.select(sa.func.count()).select_from(ConsoleAudit))) == audited
        # With the version it shows now, the edit goes through.
        again = staff.post(url, {**form(3), "version": row.version})
        assert "ok:" in flash_of(again) and getattr(get(app, model, row_id), field) == form(3)[field]


def test_an_api_edit_makes_an_open_console_form_stale(app, client, console, people, world):
    reward = make_reward(app, world["community"], cost=10, stock=5)
    staff = console("demo-staff")
    shown = version_in(staff.get(f"/console/rewards/{reward}").text)
    api = client.put(f"/api/v1/rewards/{reward}", headers=people["demo-staff"],
                     json={"stock": 50})
    assert api.status_code == 200, api.get_json()
    stale = staff.post(f"/console/rewards/{reward}", {"name": "测试奖品", "cost": "10",
                                                      "stock": "1", "pickup_place": "服务站",
                                                      "active": "1", "version": shown},
                       follow=False)
    assert stale.status_code == 409 and "已被他人修改" in stale.text
    assert get(app, Reward, reward).stock == 50


def test_a_missing_or_bad_version_is_refused(app, console, world):
    staff = console("demo-staff")
    hq = world["compounds"]["虹桥小区"]
    for version in ({}, {"version": "abc"}, {"version": "99999999999999"}):
        page = staff.post(f"/console/org/compounds/{hq}", {"name": "改", **version})
        assert "error:" in flash_of(page)
    assert get(app, Compound, hq).name == "虹桥小区"


# --- users and role grants -----------------------------------------------------------------

def test_staff_grant_and_revoke_within_their_community(app, console, world):
    staff = console("demo-staff")
    resident2 = world["users"]["demo-resident-2"]
    page = staff.get("/console/people")
    assert 'id="grant-role"' in page.text and f'data-id="{resident2}"' in page.text
    page = staff.post("/console/people/grants", {"user_id": resident2, "role": "grid_worker",
                                                 "scope": f"grid:{world['grids'][1]}"})
    assert "ok:已授予" in flash_of(page)
    grant_id = in_app(app, lambda: db.session.scalar(sa.select(RoleGrant.id).where(
        RoleGrant.user_id == resident2, RoleGrant.role == Role.GRID_WORKER)))
    [(kind, target, before, after)] = audits(app, "role_grant")
    assert (kind, target, before) == ("role_grants", grant_id, None)
    assert after == {"user_id": resident2, "role": "grid_worker", "scope_kind": "grid",
                     "scope_id": world["grids"][1]}
    # Above their scope, or a role they may not grant: refused.
    for data in ({"role": "admin", "scope": ""}, {"role": "department",
                                                   "scope": f"department:{world['departments']['城管']}"},
                 {"role": "resident", "scope": ""}, {"role": "grid_worker", "scope": "grid:999999"},
                 {"role": "nonsense", "scope": ""}, {"role": "secretary",
                                                     "scope": f"grid:{world['grids'][0]}"}):
        page = staff.post("/console/people/grants", {"user_id": resident2, **data})
        assert "error:" in flash_of(page), data
    assert in_app(app, lambda: sorted(r.value for r in db.session.scalars(
        sa.select(RoleGrant.role).where(RoleGrant.user_id == resident2)))) == [
        "grid_worker", "resident"]
    # Revoke it; never their own grant.
    page = staff.post(f"/console/people/grants/{grant_id}/revoke")
    assert "ok:已撤销" in flash_of(page) and get(app, RoleGrant, grant_id) is None
    [(_, target, before, after)] = audits(app, "role_revoke")
    assert target == grant_id and before["role"] == "grid_worker" and after is None
    own = in_app(app, lambda: db.session.scalar(sa.select(RoleGrant.id).where(
        RoleGrant.user_id == world["users"]["demo-staff"])))
    assert f'action="/console/people/grants/{own}/revoke"' not in staff.get("/console/people").text
    page = staff.post(f"/console/people/grants/{own}/revoke")
    assert "不能撤销自己的角色" in flash_of(page) and get(app, RoleGrant, own) is not None
    # A resident grant (from a verified membership) is not staff's to revoke.
    resident_grant = in_app(app, lambda: db.session.scalar(sa.select(RoleGrant.id).where(
        RoleGrant.user_id == resident2, RoleGrant.role == Role.RESIDENT)))
    assert "error:" in flash_of(staff.post(f"/console/people/grants/{resident_grant}/revoke"))
    assert get(app, RoleGrant, resident_grant) is not None


@pytest.mark.parametrize("openid", ["demo-secretary", "demo-grid-worker", "demo-canteen"])
def test_others_grant_nothing(app, console, world, openid):
    browser = console(openid)
    assert 'id="grant-role"' not in browser.get("/console/people").text
    page = browser.post("/console/people/grants", {
        "user_id": world["users"]["demo-resident-2"], "role": "grid_worker",
        "scope": f"grid:{world['grids'][0]}"})
    assert "error:" in flash_of(page)
    worker_grant = in_app(app, lambda: db.session.scalar(sa.select(RoleGrant.id).where(
        RoleGrant.user_id == world["users"]["demo-grid-worker-2"])))
    assert "error:" in flash_of(browser.post(f"/console/people/grants/{worker_grant}/revoke"))
    assert get(app, RoleGrant, worker_grant) is not None
    assert audits(app, "role_grant") == []


def test_admin_grants_a_department_role(app, console, world):
    admin = console("demo-admin")
    department = world["departments"]["住建"]
    page = admin.post("/console/people/grants", {"user_id": world["users"]["demo-resident-2"],
                                                 "role": "department",
                                                 "scope": f"department:{department}"})
    assert "ok:" in flash_of(page)
    assert in_app(app, lambda: db.session.scalar(sa.select(sa.func.count()).select_from(
        RoleGrant).where(RoleGrant.scope_kind == ScopeKind.DEPARTMENT,
                         RoleGrant.scope_id == department))) == 1


# --- the 双报到 roster ------------------------------------------------------------------------

def test_staff_confirm_and_reject_registrations(app, client, console, people, world):
    def register(openid):
        response = client.post("/api/v1/party/registrations", headers=people[openid], json={
            "community_id": world["community"], "employer": "县人社局"})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]
    first = register("demo-party-member")
    staff = console("demo-staff")
    page = staff.get("/console/party")
    assert f'class="registration" data-id="{first}"' in page.text and "刘党员" in page.text
    # A secretary cannot decide (and gets no roster).
    page = console("demo-secretary").post(f"/console/party/registrations/{first}",
                                          {"decision": "confirm"})
    assert "error:" in flash_of(page)
    page = staff.post(f"/console/party/registrations/{first}", {"decision": "reject"})
    assert "请说明不通过的原因" in flash_of(page)
    page = staff.post(f"/console/party/registrations/{first}", {"decision": "confirm"})
    assert "ok:报到 #" in flash_of(page)
    assert get(app, PartyRegistration, first).status is RegistrationStatus.CONFIRMED
    [(kind, target, before, after)] = audits(app, "registration_confirm")
    assert (kind, target) == ("party_registrations", first)
    assert before["status"] == "pending" and after["status"] == "confirmed"
    assert after["decided_by_id"] == world["users"]["demo-staff"]
    # Deciding twice: the transition table's 409.
    page = staff.post(f"/console/party/registrations/{first}", {"decision": "reject",
                                                                "note": "重复"})
    assert "error:" in flash_of(page)
    assert get(app, PartyRegistration, first).status is RegistrationStatus.CONFIRMED
    filtered = staff.get("/console/party?status=pending").text
    assert f'data-id="{first}"' not in filtered
    assert staff.get("/console/party?status=bogus").status_code == 422


# --- 办事指南 and rewards -----------------------------------------------------------------------

def test_staff_keep_the_guide_catalog(app, console, world):
    staff = console("demo-staff")
    page = staff.post("/console/guides", {"title": "办理低保", "answer": "到社区服务站申请",
                                          "synonyms": "低保怎么办\n最低生活保障",
                                          "department": "民政"})
    assert page.status_code == 200 and "办理低保" in page.text
    entry = in_app(app, lambda: db.session.scalar(sa.select(GuideEntry).where(
        GuideEntry.title == "办理低保")))
    assert entry.synonyms == ["低保怎么办", "最低生活保障"]
    [(kind, target, before, after)] = audits(app, "guide_create")
    assert (kind, target, before) == ("guide_entries", entry.id, None) and after["active"] is True
    page = staff.post("/console/guides", {"title": "x", "answer": ""})
    assert "标题" in flash_of(page) and "答复" in flash_of(page)
    version = version_in(staff.get(f"/console/guides/{entry.id}").text)
    page = staff.post(f"/console/guides/{entry.id}/retire", {"version": version})
    assert "ok:办事指南已下线" in flash_of(page)
    assert get(app, GuideEntry, entry.id).active is False
    [(_, _, before, after)] = audits(app, "guide_retire")
    assert before["active"] is True and after["active"] is False
    assert "已下线" in staff.get("/console/guides").text
    # The secretary cannot create, and does not see the entry's edit page.
    secretary = console("demo-secretary")
    assert "error:" in flash_of(secretary.post("/console/guides", {"title": "偷建", "answer": "xx"}))
    assert secretary.get(f"/console/guides/{entry.id}").status_code == 404


def test_staff_keep_the_rewards(app, console, world):
    staff = console("demo-staff")
    page = staff.post("/console/rewards", {"name": "洗衣液", "cost": "30", "stock": "12",
                                           "pickup_place": "服务站", "active": "1",
                                           "starts_at": "2026-12-01T08:00"})
    assert page.status_code == 200 and "洗衣液" in page.text, flash_of(page)
    reward = in_app(app, lambda: db.session.scalar(sa.select(Reward).where(Reward.name == "洗衣液")))
    assert (reward.cost, reward.stock, reward.active) == (30, 12, True)
    assert reward.starts_at.isoformat() == "2026-12-01T00:00:00+00:00"  # 08:00 in Shanghai
    [(kind, target, before, after)] = audits(app, "reward_create")
    assert (kind, target, before) == ("rewards", reward.id, None) and after["stock"] == 12
    for data in ({"cost": "0"}, {"cost": "abc"}, {"stock": "-1"}, {"pickup_place": ""}):
        form = {"name": "洗衣液", "cost": "30", "stock": "12", "pickup_place": "服务站",
                "version": get(app, Reward, reward.id).version, **data}
        assert "error:" in flash_of(staff.post(f"/console/rewards/{reward.id}", form)), data
    page = staff.post(f"/console/rewards/{reward.id}", {
        "name": "洗衣液", "cost": "25", "stock": "40", "pickup_place": "服务站",
        "version": get(app, Reward, reward.id).version})  # `active` unticked: off sale
    assert "ok:奖品已保存" in flash_of(page)
    saved = get(app, Reward, reward.id)
    assert (saved.cost, saved.stock, saved.active) == (25, 40, False)
    [(_, _, before, after)] = audits(app, "reward_update")
    assert (before["cost"], before["stock"]) == (30, 12)
    assert (after["cost"], after["stock"], after["active"]) == (25, 40, False)
    assert console("demo-canteen").get(f"/console/rewards/{reward.id}").status_code == 404
    page = console("demo-secretary").post(f"/console/rewards/{reward.id}", {
        "name": "x", "cost": "1", "stock": "1", "pickup_place": "x", "version": saved.version})
    assert "error:" in flash_of(page) and get(app, Reward, reward.id).name == "洗衣液"


def test_racing_edits_of_one_version_exactly_one_wins(app, people, world):
    """Six desks submit the same household form (same version) at once over real HTTP:
    one edit goes through, five get the 409, one audit row (row lock on PostgreSQL, the
    conditional UPDATE everywhere)."""
    import requests

    from tests.helpers import run_together, serving

    hq1 = world["buildings"][("虹桥小区", "1号楼")]
    household = in_app(app, lambda: db.session.scalar(sa.select(Household.id).where(
        Household.building_id == hq1, Household.unit == "2", Household.room == "102")))
    with serving(app) as url:
        desk = requests.Session()
        csrf = csrf_in(desk.get(url + "/console/login", timeout=10).text)
        qr = desk.post(url + "/console/login/qr", headers={"X-CSRF-Token": csrf}, timeout=10)
        nonce = re.search(r'data-nonce="([^"]+)"', qr.text).group(1)
        assert requests.post(url + "/api/v1/console/approve", json={"nonce": nonce},
                             headers=people["demo-staff"], timeout=10).status_code == 200
        assert desk.post(url + "/console/login/poll", data={"nonce": nonce}, timeout=10,
                         headers={"X-CSRF-Token": csrf, "HX-Request": "true"}).status_code == 204
        page = desk.get(f"{url}/console/households/{household}", timeout=10).text
        form = {"csrf_token": FORM_CSRF.search(page).group(1), "version": version_in(page)}
        cookies = desk.cookies.get_dict()
        answers = run_together(6, lambda i: requests.post(
            f"{url}/console/households/{household}", data={**form, "head_name": f"户主{i}",
                                                           "tags": ["hardship"]},
            cookies=cookies, allow_redirects=False, timeout=60))
    codes = sorted(a.status_code for a in answers)
    assert codes == [302] + [409] * 5, [(a.status_code, a.text[:200]) for a in answers]
    assert all("已被他人修改" in a.text for a in answers if a.status_code == 409)
    winner = next(i for i, a in enumerate(answers) if a.status_code == 302)
    assert get(app, Household, household).head_name == f"户主{winner}"
    [(_, _, before, after)] = audits(app, "household_update")
    assert before["head_name"] is None and after["head_name"] == f"户主{winner}"


def test_bad_input_and_unknown_rows_answer_html_never_500(app, console, world):
    staff = console("demo-staff")
    for path in ("/console/org/compounds/999999", "/console/org/grids/999999",
                 "/console/org/buildings/999999", "/console/households/999999",
                 "/console/org/compounds/999999/households", "/console/guides/999999",
                 "/console/rewards/999999", "/console/org?community=abc",
                 "/console/org?community=999999", "/console/party?community=999999",
                 f"/console/org/compounds/{world['compounds']['虹桥小区']}/households?building=999999"):
        page = staff.get(path)
        assert page.status_code == 404 and page.mimetype == "text/html", (path, page.status_code)
        assert '"code":' not in page.text
    posts = [("/console/org/compounds", {"name": "无社区"}),
             ("/console/org/compounds", {"community_id": "x", "name": "x"}),
             ("/console/org/grids", {"name": "无社区"}),
             ("/console/org/buildings", {"name": "无小区"}),
             ("/console/org/buildings", {"compound_id": world["compounds"]["虹桥小区"], "name": "x",
                                         "grid_id": "", "lat": "1e999"}),
             ("/console/org/compounds", {"community_id": world["community"], "name": "长" * 65}),
             ("/console/households/999999", {"version": 1}),
             ("/console/party/registrations/999999", {"decision": "confirm"}),
             ("/console/party/registrations/1", {"decision": "approve"}),
             ("/console/people/grants", {"role": "staff"}),
             ("/console/people/grants", {"user_id": "999999", "role": "staff",
                                         "scope": f"community:{world['community']}"}),
             ("/console/people/grants", {"user_id": "1", "role": "staff", "scope": "nowhere"}),
             ("/console/people/grants/999999/revoke", {}),
             ("/console/guides/999999", {"version": 1, "title": "标题", "answer": "答复"}),
             ("/console/rewards/999999", {"version": 1, "name": "x", "cost": "1", "stock": "1",
                                          "pickup_place": "x"}),
             ("/console/rewards", {"name": "x", "cost": "1", "stock": "1", "pickup_place": "x",
                                   "starts_at": "not a time"})]
    for path, data in posts:
        page = staff.post(path, data, follow=False)
        assert page.status_code in (302, 404), (path, page.status_code, page.text[:200])
        if page.status_code == 302:
            followed = staff.client.get(page.headers["Location"])
            assert "error:" in flash_of(followed), (path, flash_of(followed))
    assert in_app(app, lambda: db.session.scalar(
        sa.select(sa.func.count()).select_from(ConsoleAudit).where(
            ConsoleAudit.action.notlike("%sign_in")))) == 0


def test_a_persons_grants_elsewhere_stay_hidden(app, console, elsewhere, world):
    _, ids = elsewhere
    worker = world["users"]["demo-grid-worker"]
    in_app(app, lambda: (db.session.add(RoleGrant(user_id=worker, role=Role.GRID_WORKER,
                                                  scope_kind=ScopeKind.GRID,
                                                  scope_id=ids["grid"])), db.session.commit()))
    page = console("demo-staff").get("/console/people").text
    assert f'class="person" data-id="{worker}"' in page and "第一网格" in page
    assert "东关网格" not in page  # the same worker's grant in 东关社区
    assert "东关网格" in console("demo-admin").get("/console/people").text
