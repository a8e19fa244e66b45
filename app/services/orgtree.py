"""Keeping the org tree (compounds, grids, buildings) and the household roster, for the
console (the mini-program only reads the tree, app.services.org).

Who sees what is the visits rule (app.services.visits.access.manages): a building, its
households and their care tags belong to the building's grid worker, the compound's
secretary and the community's staff (admin everywhere). A compound or grid shows when the
viewer manages it or one of its buildings, so a grid worker sees only their grid's
buildings. Only the community's staff (and admin) create and edit compounds, grids and
buildings (`EDITOR`); a household's head (name, phone) and care tags are kept by whoever
manages it (`update_household`; the tags through app.services.visits.care). Names are
unique where the schema says so (409 `*_name_taken`). Every write commits once at its end.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import Building, Community, Compound, Grid, Household, Role, ScopeKind, User
from app.services.excel.households import PHONE
from app.services.permissions import authorize, has_role
from app.services.visits.access import MANAGING_ROLES, manages, visible_household

EDITOR = Role.STAFF
NAME_MAX = {"compound": 64, "grid": 64, "building": 32}


def visible_communities(user: User) -> list[Community]:
    """The communities the user manages something in (admin: every one)."""
    query = sa.select(Community).order_by(Community.id)
    if not has_role(user, Role.ADMIN):
        ids: set[int] = set()
        models = {ScopeKind.GRID: Grid, ScopeKind.COMPOUND: Compound}
        for grant in user.grants:
            if grant.role not in MANAGING_ROLES:
                continue
            if grant.scope_kind is ScopeKind.COMMUNITY:
                ids.add(grant.scope_id)
            elif grant.scope_kind in models:
                model = models[grant.scope_kind]
                ids.update(db.session.scalars(sa.select(model.community_id)
                                              .where(model.id == grant.scope_id)))
        query = query.where(Community.id.in_(ids))
    return list(db.session.scalars(query))


def _community(user: User, community_id: int | None) -> Community:
    community = db.session.get(Community, community_id) if community_id is not None else None
    if community is None or community not in visible_communities(user):
        raise NotFound("社区不存在", code="community_not_found")
    return community


def tree(user: User, community_id: int) -> dict:
    """The community's compounds (each with the buildings the user manages) and grids, as
    far as the user may see them; whether the user may edit them."""
    community = _community(user, community_id)
    compounds = list(db.session.scalars(
        sa.select(Compound).options(selectinload(Compound.buildings))
        .where(Compound.community_id == community.id).order_by(Compound.id)))
    grids = list(db.session.scalars(sa.select(Grid).where(Grid.community_id == community.id)
                                    .order_by(Grid.id)))
    shown, seen_grids = [], set()
    for compound in compounds:
        buildings = [b for b in compound.buildings if manages(user, b)]
        if buildings or manages(user, compound):
            shown.append({"compound": compound, "buildings": buildings})
            seen_grids.update(b.grid_id for b in buildings)
    return {"community": community, "compounds": shown,
            "grids": [g for g in grids if g.id in seen_grids or manages(user, g)],
            "all_grids": grids, "can_edit": has_role(user, EDITOR, community)}


def _name(kind: str, value: str | None) -> str:
    name = (value or "").strip()
    if not name or len(name) > NAME_MAX[kind]:
        raise ValidationFailed(f"名称不能为空，且不超过 {NAME_MAX[kind]} 个字",
                               code="validation_error", errors={"name": ["长度无效"]})
    return name


def _coordinate(value: float | None, bound: int, label: str) -> float | None:
    if value is not None and not -bound <= value <= bound:
        raise ValidationFailed(f"{label}应在 -{bound} 到 {bound} 之间", code="validation_error",
                               errors={label: ["超出范围"]})
    return value


def _save(code: str, message: str) -> None:
    """Commit, or 409 when a unique name collides (checked first, the index decides)."""
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(message, code=code) from None
    db.session.commit()


def _taken(model, name: str, own_id: int | None, **parent) -> None:
    with db.session.no_autoflush:
        twin = db.session.scalar(sa.select(model.id).filter_by(name=name, **parent)
                                 .where(model.id != (own_id or 0)))
    if twin is not None:
        noun = {Compound: "小区", Grid: "网格", Building: "楼栋"}[model]
        raise Conflict(f"已有同名的{noun}", code=f"{model.__name__.lower()}_name_taken")


def _editable(user: User, model, row_id: int, noun: str):
    row = db.session.get(model, row_id)
    if row is None or not manages(user, row):
        raise NotFound(f"{noun}不存在", code=f"{model.__name__.lower()}_not_found")
    authorize(user, EDITOR, row)
    return row


def get_compound(user: User, compound_id: int) -> Compound:
    compound = db.session.get(Compound, compound_id)
    if compound is None or not (manages(user, compound)
                                or any(manages(user, b) for b in compound.buildings)):
        raise NotFound("小区不存在", code="compound_not_found")
    return compound


def create_compound(user: User, community_id: int | None, name: str, address: str | None) -> Compound:
    community = _community(user, community_id)
    authorize(user, EDITOR, community)
    name = _name("compound", name)
    _taken(Compound, name, None, community_id=community.id)
    compound = Compound(community_id=community.id, name=name, address=_address(address))
    db.session.add(compound)
    _save("compound_name_taken", "已有同名的小区")
    return compound


def update_compound(user: User, compound_id: int, name: str, address: str | None) -> Compound:
    compound = _editable(user, Compound, compound_id, "小区")
    compound.name = _name("compound", name)
    _taken(Compound, compound.name, compound.id, community_id=compound.community_id)
    compound.address = _address(address)
    _save("compound_name_taken", "已有同名的小区")
    return compound


def _address(value: str | None) -> str | None:
    address = (value or "").strip() or None
    if address is not None and len(address) > 200:
        raise ValidationFailed("地址不能超过 200 个字", code="validation_error",
                               errors={"address": ["过长"]})
    return address


def get_grid(user: User, grid_id: int) -> Grid:
    grid = db.session.get(Grid, grid_id)
    visible = grid is not None and grid.community in visible_communities(user)
    if not (visible and grid in tree(user, grid.community_id)["grids"]):
        raise NotFound("网格不存在", code="grid_not_found")
    return grid


def create_grid(user: User, community_id: int | None, name: str) -> Grid:
    community = _community(user, community_id)
    authorize(user, EDITOR, community)
    name = _name("grid", name)
    _taken(Grid, name, None, community_id=community.id)
    grid = Grid(community_id=community.id, name=name)
    db.session.add(grid)
    _save("grid_name_taken", "已有同名的网格")
    return grid


def update_grid(user: User, grid_id: int, name: str) -> Grid:
    grid = _editable(user, Grid, grid_id, "网格")
    grid.name = _name("grid", name)
    _taken(Grid, grid.name, grid.id, community_id=grid.community_id)
    _save("grid_name_taken", "已有同名的网格")
    return grid


def get_building(user: User, building_id: int) -> Building:
    building = db.session.get(Building, building_id)
    if building is None or not manages(user, building):
        raise NotFound("楼栋不存在", code="building_not_found")
    return building


def _grid_of(compound: Compound, grid_id: int | None) -> int:
    grid = db.session.get(Grid, grid_id) if grid_id is not None else None
    if grid is None or grid.community_id != compound.community_id:
        raise ValidationFailed("请选择本社区的网格", code="validation_error",
                               errors={"grid_id": ["不是本社区的网格"]})
    return grid.id


def create_building(user: User, compound_id: int | None, name: str, grid_id: int | None,
                    lat: float | None, lng: float | None) -> Building:
    compound = db.session.get(Compound, compound_id) if compound_id is not None else None
    if compound is None or compound.community not in visible_communities(user):
        raise NotFound("小区不存在", code="compound_not_found")
    authorize(user, EDITOR, compound)
    name = _name("building", name)
    _taken(Building, name, None, compound_id=compound.id)
    building = Building(compound_id=compound.id, grid_id=_grid_of(compound, grid_id), name=name,
                        lat=_coordinate(lat, 90, "纬度"), lng=_coordinate(lng, 180, "经度"))
    db.session.add(building)
    _save("building_name_taken", "已有同名的楼栋")
    return building


def update_building(user: User, building_id: int, name: str, grid_id: int | None,
                    lat: float | None, lng: float | None) -> Building:
    building = _editable(user, Building, building_id, "楼栋")
    building.name = _name("building", name)
    _taken(Building, building.name, building.id, compound_id=building.compound_id)
    building.grid_id = _grid_of(building.compound, grid_id)
    building.lat, building.lng = _coordinate(lat, 90, "纬度"), _coordinate(lng, 180, "经度")
    _save("building_name_taken", "已有同名的楼栋")
    return building


# --- households --------------------------------------------------------------------------

def members_of(household_ids) -> dict[int, list[User]]:
    """The verified members of each household (one query)."""
    members: dict[int, list[User]] = {}
    if household_ids:
        for member in db.session.scalars(sa.select(User).where(
                User.household_id.in_(list(household_ids))).order_by(User.id)):
            members.setdefault(member.household_id, []).append(member)
    return members


def households(user: User, compound_id: int, building_id: int | None = None) -> dict:
    """The households of the compound's buildings the user manages (or of one of them),
    with their verified members and care tags (two queries more)."""
    compound = get_compound(user, compound_id)
    buildings = [b for b in compound.buildings if manages(user, b)
                 and (building_id is None or b.id == building_id)]
    if building_id is not None and not buildings:
        raise NotFound("楼栋不存在", code="building_not_found")
    rows = list(db.session.scalars(
        sa.select(Household).options(selectinload(Household.tags))
        .where(Household.building_id.in_([b.id for b in buildings]))
        .order_by(Household.building_id, Household.unit, Household.room, Household.id)))
    return {"compound": compound, "buildings": buildings, "households": rows,
            "members": members_of([h.id for h in rows])}


def get_household(user: User, household_id: int) -> Household:
    """The household for whoever manages it (404 / 403 as the care-tag API answers)."""
    return visible_household(user, household_id)


def update_household(user: User, household_id: int, head_name: str | None,
                     head_phone: str | None) -> Household:
    """The head's name and phone (the phone as the household import checks it)."""
    household = visible_household(user, household_id)
    head = (head_name or "").strip() or None
    if head is not None and len(head) > 32:
        raise ValidationFailed("户主姓名不能超过 32 个字", code="validation_error",
                               errors={"head_name": ["过长"]})
    phone = (head_phone or "").strip() or None
    if phone is not None and not PHONE.match(phone):
        raise ValidationFailed("户主电话格式不正确", code="validation_error",
                               errors={"head_phone": ["格式不正确"]})
    household.head_name, household.head_phone = head, phone
    db.session.commit()
    return household


def staff_communities(user: User) -> list[Community]:
    """The communities the user works for as staff (admin: every one): the scope of the
    console's roster, catalog and rewards pages."""
    return [c for c in db.session.scalars(sa.select(Community).order_by(Community.id))
            if has_role(user, Role.STAFF, c)]
