"""The monthly subsidy report of a canteen (老年助餐补贴申报), as an .xlsx workbook for the
reimbursement claim.

Counted: the meals handed over (`checked_in` bookings) whose local day falls in the month;
no-shows and cancellations claim nothing. Each booking's tier and subsidy were fixed when
it was made, so the report reads them as they are (a change of `CANTEEN_TIERS` mid-month
shows as two rows of the same tier). The subsidy is for the diner's own portion; extra
portions are counted in 总份数 at the base price.

Sheets (app/services/spreadsheets.py writes them, formula-safe):
- 按档位汇总: tier, subsidy per meal, meals, portions, subsidy total; a 合计 row;
- 按日期餐次: date, meal, tier, meals, portions, subsidy;
- 按用餐人: name, compound, building, unit, room, birth year, tier, meals, subsidy; the
  names and addresses are why only the community's staff (`Role.STAFF`) may download it
  (403 for anyone else, canteen staff included).
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from app.errors import Forbidden
from app.extensions import db
from app.models import (
    Booking,
    BookingState,
    Building,
    Compound,
    DinerProfile,
    Household,
    Meal,
    MealKind,
    Role,
    User,
)
from app.services import spreadsheets
from app.services.canteen import access
from app.services.canteen.eligibility import tier_names
from app.services.permissions import has_role

CENT = Decimal("0.01")


def yuan(fen: int | None) -> Decimal:
    return (Decimal(fen or 0) / 100).quantize(CENT)


def _month(value: str) -> tuple[date, date]:
    year, month = (int(x) for x in value.split("-"))
    first = date(year, month, 1)
    return first, date(year + month // 12, month % 12 + 1, 1)


def subsidy_report(user: User, canteen_id: int, month: str) -> tuple[bytes, str, str]:
    """(workbook bytes, file name, ASCII file name) of a canteen's month (YYYY-MM)."""
    canteen = access.get_canteen(canteen_id)
    if not has_role(user, Role.STAFF, canteen):
        raise Forbidden("只有本社区的社区工作人员可以导出助餐补贴报表")
    first, after = _month(month)
    served = sa.and_(Booking.canteen_id == canteen.id, Booking.day >= first, Booking.day < after,
                     Booking.state == BookingState.CHECKED_IN)
    meals, portions = sa.func.count(Booking.id), sa.func.sum(Booking.quantity)
    subsidy = sa.func.sum(Booking.subsidy_fen)
    names = tier_names()

    def tier(key: str) -> str:
        return names.get(key, key)

    by_tier = db.session.execute(
        sa.select(Booking.tier, Booking.subsidy_fen, meals, portions, subsidy).where(served)
        .group_by(Booking.tier, Booking.subsidy_fen)
        .order_by(Booking.subsidy_fen.desc(), Booking.tier)).all()
    summary = [[tier(t), yuan(each), n, q, yuan(s)] for t, each, n, q, s in by_tier]
    summary.append(["合计", None, sum(r[2] for r in summary), sum(r[3] for r in summary),
                    sum((r[4] for r in summary), Decimal("0.00"))])

    kinds = list(MealKind)
    by_meal = sorted(db.session.execute(
        sa.select(Booking.day, Meal.kind, Booking.tier, meals, portions, subsidy)
        .join(Meal, Meal.id == Booking.meal_id).where(served)
        .group_by(Booking.day, Meal.kind, Booking.tier)).all(),
        key=lambda r: (r[0], kinds.index(r[1]), -(r[5] or 0), r[2]))

    by_diner = db.session.execute(
        sa.select(DinerProfile.name, Compound.name, Building.name, Household.unit,
                  Household.room, DinerProfile.birth_year, Booking.tier, meals, subsidy)
        .join(DinerProfile, DinerProfile.id == Booking.diner_id)
        .join(Household, Household.id == DinerProfile.household_id)
        .join(Building, Building.id == Household.building_id)
        .join(Compound, Compound.id == Building.compound_id).where(served)
        .group_by(DinerProfile.id, DinerProfile.name, Compound.name, Building.name,
                  Household.unit, Household.room, DinerProfile.birth_year, Booking.tier)
        .order_by(Compound.name, Building.name, Household.unit, Household.room,
                  DinerProfile.id, Booking.tier)).all()

    sheets = [
        spreadsheets.Sheet("按档位汇总", ["档位", "每餐补助（元）", "用餐人次", "总份数",
                                     "补助合计（元）"], summary),
        spreadsheets.Sheet("按日期餐次", ["日期", "餐次", "档位", "用餐人次", "总份数", "补助合计（元）"],
                           [[d, k.label, tier(t), n, q, yuan(s)] for d, k, t, n, q, s in by_meal]),
        spreadsheets.Sheet("按用餐人", ["姓名", "小区", "楼栋", "单元", "房号", "出生年份", "档位",
                                    "用餐次数", "补助合计（元）"],
                           [[name, compound, building, unit, room, born, tier(t), n, yuan(s)]
                            for name, compound, building, unit, room, born, t, n, s
                            in by_diner]),
    ]
    filename = f"{canteen.name}{first.year}年{first.month}月助餐补贴.xlsx"
    return spreadsheets.workbook_bytes(sheets), filename, f"canteen-{canteen.id}-subsidy-{month}.xlsx"
