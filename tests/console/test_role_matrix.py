"""The console's role matrix: every GET page for every kind of visitor, enumerated from
`app.url_map` (so pages added later are covered without touching this file).

- Pages without URL parameters, and those whose parameters can be filled from seeded rows
  (ids of community A's rows and of community B's; the kinds of the Excel registry).
- A resident and a fresh account cannot sign in (the approve call is refused) and every
  page sends them to the sign-in page; so does a forged cookie and a staff member whose
  grant was revoked after signing in.
- Each staff-side role of community A (grid worker, secretary, staff, department, canteen
  staff) gets 200 or a clear 403 page in HTML, never a 500 or the JSON envelope; B's rows
  by id are 403 or 404.
- Nothing B planted shows on any page or export of A's roles: B's names (community,
  compound, building, grid, household head, people, incident, wish, canteen, diner,
  reward), and the care tag only B's household carries (its count on each page is the
  same before and after B's rows exist; a page may list every tag as a filter).
- One Chromium run opens every parameter-free page as the community's staff and checks the
  browser reports no error and reaches nothing but the app.
"""
from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.console.web import PUBLIC
from app.extensions import db
from app.models import (
    Building,
    Canteen,
    CareTag,
    Community,
    Compound,
    Department,
    DinerProfile,
    Grid,
    Household,
    HouseholdMembership,
    HouseholdTag,
    Incident,
    IncidentCategory,
    IncidentStatus,
    Meal,
    MealKind,
    MealState,
    MembershipStatus,
    Role,
    RoleGrant,
    ScopeKind,
    Street,
    User,
    VerifiedBy,
    Wish,
    WishCategory,
    WishStatus,
)
from app.models.base import utcnow
from tests.console.test_browser import sign_in
from tests.fixtures.points import make_reward
from tests.helpers import in_app, login

A_ROLES = ["demo-grid-worker", "demo-secretary", "demo-staff", "demo-department",
           "demo-canteen"]
# Distinctive text planted only in community B.
B = {"street": "乙河西街道", "community": "乙东关社区", "compound": "乙蓝湾小区", "address": "乙蓝湾路九号",
     "grid": "乙网格甲", "building": "乙栋楼", "head": "钱乙户主", "staff": "乙社工孟",
     "resident": "乙居民蒋", "incident": "乙区井盖丢失了", "wish": "乙区轮椅心愿",
     "canteen": "乙区长者食堂", "diner": "乙用餐人韩", "reward": "乙区奖品毛巾"}
B_TAG = CareTag.PETITIONER  # A's households carry no such tag


def console_routes(app) -> list:
    """Every console GET rule except the public ones (sign-in pages, static files)."""
    return sorted((r for r in app.url_map.iter_rules()
                   if r.endpoint.startswith("console.") and "GET" in r.methods
                   and r.endpoint not in PUBLIC), key=lambda r: r.rule)


def free_paths(app) -> list[str]:
    return [r.rule for r in console_routes(app) if not r.arguments]


def text_of(response) -> str:
    """What a visitor reads: the HTML, or every cell of a workbook (an .xlsx is a zip)."""
    data = response.get_data()
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "".join(archive.read(name).decode("utf-8", "replace")
                           for name in archive.namelist() if name.endswith(".xml"))
    return data.decode("utf-8", "replace")


def plant_b(app, world, categories) -> dict:
    """Community B with its org rows, people, a tagged household and content; ids."""
    def work():
        # Another street, with its own 城管: A's department is not B's.
        street = Street(name=B["street"])
        db.session.add(street)
        db.session.flush()
        department = Department(street_id=street.id, name="城管")
        community = Community(street_id=street.id, name=B["community"])
        db.session.add_all([department, community])
        db.session.flush()
        grid = Grid(community_id=community.id, name=B["grid"])
        compound = Compound(community_id=community.id, name=B["compound"],
                            address=B["address"])
        db.session.add_all([grid, compound])
        db.session.flush()
        building = Building(compound_id=compound.id, grid_id=grid.id, name=B["building"],
                            lat=38.9, lng=111.9)
        db.session.add(building)
        db.session.flush()
        household = Household(building_id=building.id, unit="9", room="909",
                              head_name=B["head"])
        db.session.add(household)
        db.session.flush()
        db.session.add(HouseholdTag(household_id=household.id, tag=B_TAG))
        staff = User(openid="b-staff", nickname=B["staff"])
        staff.grants.append(RoleGrant(role=Role.STAFF, scope_kind=ScopeKind.COMMUNITY,
                                      scope_id=community.id))
        resident = User(openid="b-resident", nickname=B["resident"], household_id=household.id)
        resident.grants.append(RoleGrant(role=Role.RESIDENT))
        db.session.add_all([staff, resident])
        db.session.flush()
        db.session.add(HouseholdMembership(user_id=resident.id, household_id=household.id,
                                           status=MembershipStatus.VERIFIED,
                                           verified_by=VerifiedBy.GRID_WORKER,
                                           decided_at=utcnow()))
        kind = db.session.get(IncidentCategory, categories["environment"])
        now = utcnow()
        for status in (IncidentStatus.PENDING_REVIEW, IncidentStatus.ESCALATED,
                       IncidentStatus.ACCEPTED):
            db.session.add(Incident(
                reporter_id=resident.id, category_id=kind.id, description=B["incident"],
                lat=building.lat, lng=building.lng, building_id=building.id,
                compound_id=compound.id, grid_id=grid.id, community_id=community.id,
                status=status, public=True, respond_by=now - timedelta(hours=2),
                resolve_by=now - timedelta(hours=1), created_at=now - timedelta(hours=3),
                department_id=department.id
                if status is IncidentStatus.ESCALATED else None))
        for status in (WishStatus.PENDING_REVIEW, WishStatus.PUBLISHED):
            db.session.add(Wish(
                household_id=household.id, building_id=building.id, grid_id=grid.id,
                compound_id=compound.id, community_id=community.id,
                requester_id=resident.id, poster_id=resident.id, title=B["wish"],
                description=B["wish"], category=WishCategory.SUPPLIES, photo_ids=[],
                points=10, status=status,
                published_at=now if status is WishStatus.PUBLISHED else None))
        canteen = Canteen(community_id=community.id, name=B["canteen"], address=B["address"])
        db.session.add(canteen)
        db.session.flush()
        meal = Meal(canteen_id=canteen.id, community_id=community.id, day=now.date(),
                    kind=MealKind.LUNCH, dishes=["乙区红烧鱼"], capacity=10, price_fen=1000,
                    cutoff_at=now + timedelta(hours=1), pickup_starts_at=now + timedelta(hours=2),
                    pickup_ends_at=now + timedelta(hours=3), state=MealState.PUBLISHED,
                    created_by_id=staff.id)
        db.session.add_all([meal, DinerProfile(household_id=household.id, name=B["diner"])])
        db.session.commit()
        return {"community": community.id, "grid": grid.id, "compound": compound.id,
                "building": building.id, "household": household.id, "meal": meal.id}
    ids = in_app(app, work)
    ids["reward"] = make_reward(app, ids["community"], name=B["reward"])
    return ids


def plant_a(app, world, categories) -> dict:
    """A's rows that parametrised pages need (a meal, a reward); ids by parameter."""
    def work():
        creator = world["users"]["demo-canteen"]
        canteen = Canteen(community_id=world["community"], name="示范社区长者食堂",
                          address="虹桥路 8 号")
        db.session.add(canteen)
        db.session.flush()
        now = utcnow()
        meal = Meal(canteen_id=canteen.id, community_id=world["community"], day=now.date(),
                    kind=MealKind.LUNCH, dishes=["红烧肉"], capacity=10, price_fen=1000,
                    cutoff_at=now + timedelta(hours=1), pickup_starts_at=now + timedelta(hours=2),
                    pickup_ends_at=now + timedelta(hours=3), state=MealState.PUBLISHED,
                    created_by_id=creator)
        db.session.add(meal)
        household = db.session.get(User, world["users"]["demo-resident"]).household_id
        db.session.commit()
        return {"meal": meal.id, "household": household}
    ids = in_app(app, work)
    ids["reward"] = make_reward(app, world["community"], name="环保购物袋")
    return ids


def kinds(importing: bool) -> list[str]:
    """The Excel registry's sheet kinds (none while that module does not exist)."""
    try:
        from app.services.excel import registry
    except ImportError:
        return []
    return list(registry.IMPORTABLE if importing else registry.KINDS)


ID_ARGS = {"household_id": "household", "building_id": "building", "compound_id": "compound",
           "grid_id": "grid", "meal_id": "meal", "reward_id": "reward"}


def filled_paths(app, ids: dict) -> list[str]:
    """The parametrised pages filled from `ids` (a community's rows by parameter) and the
    Excel registry's kinds; rules with a parameter nothing fills (a download token, a job,
    a guide entry) are left out."""
    paths = []
    for rule in console_routes(app):
        args = set(rule.arguments)
        if args == {"kind"}:
            importing = rule.endpoint != "console.export"
            paths += [rule.rule.replace("<kind>", k) for k in kinds(importing)]
        elif len(args) == 1 and (name := next(iter(args))) in ID_ARGS and ID_ARGS[name] in ids:
            paths.append(rule.rule.replace(f"<int:{name}>", str(ids[ID_ARGS[name]])))
    return paths


def assert_no_b(page: str, where) -> None:
    for name, marker in B.items():
        assert marker not in page, (where, name)


def test_every_page_for_every_role_and_no_other_community_data(
        app, client, people, world, categories, console_login):
    a_ids = {**plant_a(app, world, categories), "building": world["buildings"][("虹桥小区", "1号楼")],
             "compound": world["compounds"]["虹桥小区"], "grid": world["grids"][0]}
    free, ours = free_paths(app), filled_paths(app, a_ids)
    assert {"/console/", "/console/moderation", "/console/wishes"} <= set(free)
    browsers = {openid: console_login(openid) for openid in A_ROLES}
    tag_label = B_TAG.label

    def read(browser, path):
        response = browser.get(path)
        assert response.status_code < 500, (path, response.status_code)
        return response, text_of(response)

    before = {(openid, path): read(browser, path)[1].count(tag_label)
              for openid, browser in browsers.items() for path in free + ours}
    b_ids = plant_b(app, world, categories)
    theirs = [p for p in filled_paths(app, b_ids) if p not in ours]
    assert len(theirs) >= sum(1 for r in console_routes(app)
                              if len(r.arguments) == 1 and next(iter(r.arguments)) in ID_ARGS)
    statuses = set()
    for openid, browser in browsers.items():
        for path in free + ours:
            response, page = read(browser, path)
            allowed = (200, 403) if path in free else (200, 403, 404)
            assert response.status_code in allowed, (openid, path, response.status_code)
            statuses.add(response.status_code)
            if response.mimetype == "text/html":
                assert "管理后台" in page and '"code":' not in page, (openid, path)
            else:  # a download: a workbook
                assert path.endswith(".xlsx") and response.status_code == 200, (openid, path)
            if response.status_code == 403:
                assert 'class="error" data-status="403"' in page, (openid, path)
            assert_no_b(page, (openid, path))
            assert page.count(tag_label) == before[(openid, path)], (openid, path, tag_label)
        for path in theirs:  # B's rows by id
            response, page = read(browser, path)
            assert response.status_code in (403, 404), (openid, path, response.status_code)
            assert response.mimetype == "text/html" and "管理后台" in page, (openid, path)
            assert_no_b(page, (openid, path))
        # B's ids slipped into an export's filter: nothing of B either.
        for kind in kinds(importing=False):
            for key in ("community_id", "compound_id", "building_id"):
                value = b_ids[key.removesuffix("_id")]
                _, page = read(browser, f"/console/exports/{kind}.xlsx?{key}={value}")
                assert_no_b(page, (openid, kind, key))
    assert {200, 403} <= statuses  # some roles are refused some pages, none crashes
    # The markers are real text: B's own staff sees them on B's pages.
    page = text_of(console_login_b(app, client).get(
        f"/console/?scope=community:{b_ids['community']}"))
    assert B["community"] in page and B["compound"] in page


def console_login_b(app, client):
    """B's staff member signed in (logs in first, then the QR flow)."""
    from tests.console.conftest import NONCE, csrf_in, poll
    headers = {"Authorization": f"Bearer {login(client, 'b-staff')}"}
    browser = app.test_client()
    page = browser.get("/console/login")
    csrf = csrf_in(page.text)
    nonce = NONCE.search(browser.post("/console/login/qr",
                                      headers={"X-CSRF-Token": csrf}).text).group(1)
    assert client.post("/api/v1/console/approve", headers=headers,
                       json={"nonce": nonce}).status_code == 200
    assert poll(browser, nonce, csrf).status_code == 204
    return browser


@pytest.mark.parametrize("who", ["demo-resident", "fresh-account"])
def test_residents_and_fresh_accounts_never_get_in(app, client, people, world, start_login,
                                                   who):
    headers = people.get(who) or {"Authorization": f"Bearer {login(client, who)}"}
    browser = app.test_client()
    nonce, csrf = start_login(browser)
    refused = client.post("/api/v1/console/approve", headers=headers, json={"nonce": nonce})
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "console_not_staff"
    from tests.console.conftest import poll
    assert poll(browser, nonce, csrf).status_code == 200  # still waiting: no session
    paths = [r.rule for r in console_routes(app) if not r.arguments]
    for path in paths:
        response = browser.get(path)
        assert response.status_code == 302, (who, path, response.status_code)
        assert response.headers["Location"] == "/console/login", (who, path)
        htmx = browser.get(path, headers={"HX-Request": "true"})
        assert htmx.status_code == 204 and htmx.headers["HX-Redirect"] == "/console/login"
    forged = app.test_client()
    forged.set_cookie("linli_console", "forged.value.here", path="/console")
    for path in paths:
        assert forged.get(path).status_code == 302, path


def test_a_revoked_grant_ends_the_console_at_once(app, console_login, world):
    browser = console_login("demo-secretary")
    assert browser.get("/console/").status_code == 200

    def revoke():
        db.session.execute(sa.delete(RoleGrant).where(
            RoleGrant.user_id == world["users"]["demo-secretary"]))
        db.session.commit()
    in_app(app, revoke)
    for path in free_paths(app):
        assert browser.get(path).status_code == 302, path


def test_every_parameter_free_page_in_chromium_without_errors(app, browser, app_url, people,
                                                              world):
    watched = sign_in(browser, app_url, people["demo-staff"])
    page = watched.page
    refused = []
    for path in free_paths(app):
        response = page.goto(app_url + path)
        assert response is not None and response.status in (200, 403), (path, response.status)
        page.wait_for_load_state("load")
        assert page.locator("header.top .who").count() == 1, path
        if response.status == 403:  # a clear page saying so (the browser logs the 403)
            assert page.locator('section.error[data-status="403"]').count() == 1, path
            refused.append(path)
    # Chromium reports the refused page's own status as a console error; nothing else may.
    own = "Failed to load resource: the server responded with a status of 403 (FORBIDDEN)"
    errors = list(watched.errors)
    for _ in refused:
        if own in errors:
            errors.remove(own)
    assert watched.blocked == [] and errors == [], (watched.blocked, errors)
    watched.context.close()
