"""Meal-assistance tiers (老年助餐): which tier a diner gets and what a booking costs.

Real programmes subsidise by category (age bands, 低保, 特困, 低保边缘, 失能, 百岁) with a
per-meal subsidy that differs by city, so the table is configuration: `CANTEEN_TIERS` (a
JSON list replacing `DEFAULT_TIERS`). A tier applies when every condition it names holds:
`min_age` (the age reached in the meal's year, from the birth year) and `category` (a
staff-verified flag whose expiry has not passed on the meal's day). The diner gets the
single best tier that applies (the largest subsidy; the first listed on a tie), for their
own portion only: extra portions are at the base price. A subsidy never exceeds the price.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import current_app

from app.models import DinerCategory, DinerProfile, Meal

STANDARD = "standard"
DEFAULT_TIERS = [
    {"key": "centenarian", "name": "百岁老人", "min_age": 100, "subsidy_fen": 1000},
    {"key": "tekun", "name": "特困人员", "category": "tekun", "subsidy_fen": 800},
    {"key": "dibao", "name": "低保", "category": "dibao", "subsidy_fen": 600},
    {"key": "disabled_care", "name": "失能", "category": "disabled_care", "subsidy_fen": 600},
    {"key": "age_80", "name": "80 周岁以上", "min_age": 80, "subsidy_fen": 500},
    {"key": "dibao_edge", "name": "低保边缘", "category": "dibao_edge", "subsidy_fen": 400},
    {"key": "disability", "name": "残疾人", "category": "disability", "subsidy_fen": 300},
    {"key": "age_70", "name": "70–79 周岁", "min_age": 70, "subsidy_fen": 300},
    {"key": "age_60", "name": "60–69 周岁", "min_age": 60, "subsidy_fen": 200},
]


@dataclass(frozen=True)
class Tier:
    key: str
    name: str
    subsidy_fen: int
    min_age: int | None = None
    category: DinerCategory | None = None


STANDARD_TIER = Tier(STANDARD, "普通", 0)


@dataclass(frozen=True)
class Quote:
    """What one booking costs: fixed on the booking when it is made."""

    tier: Tier
    unit_price_fen: int
    subsidy_fen: int  # for the diner's own portion
    amount_fen: int  # quantity x unit price - subsidy


def tiers() -> list[Tier]:
    """The configured tiers (checked: a bad table is the operator's error, said plainly)."""
    table = current_app.config.get("CANTEEN_TIERS") or DEFAULT_TIERS
    result = []
    for row in table:
        try:
            result.append(Tier(str(row["key"]), str(row["name"]), int(row["subsidy_fen"]),
                               None if row.get("min_age") is None else int(row["min_age"]),
                               None if row.get("category") is None
                               else DinerCategory(row["category"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise RuntimeError(f"CANTEEN_TIERS: bad tier {row!r} ({exc})") from None
    return result


def tier_names() -> dict[str, str]:
    return {STANDARD: STANDARD_TIER.name} | {t.key: t.name for t in tiers()}


def active_categories(diner: DinerProfile | None, day: date) -> set[DinerCategory]:
    """The diner's flags that count on `day` (an expiry is the last day a flag counts)."""
    if diner is None:
        return set()
    return {f.kind for f in diner.flags if f.expires_on is None or f.expires_on >= day}


def best_tier(diner: DinerProfile | None, day: date) -> Tier:
    age = None if diner is None or diner.birth_year is None else day.year - diner.birth_year
    flags = active_categories(diner, day)
    best = STANDARD_TIER
    for tier in tiers():
        if tier.min_age is not None and (age is None or age < tier.min_age):
            continue
        if tier.category is not None and tier.category not in flags:
            continue
        if tier.subsidy_fen > best.subsidy_fen:
            best = tier
    return best


def quote(diner: DinerProfile | None, meal: Meal, quantity: int = 1) -> Quote:
    tier = best_tier(diner, meal.day)
    subsidy = min(tier.subsidy_fen, meal.price_fen)
    return Quote(tier, meal.price_fen, subsidy, quantity * meal.price_fen - subsidy)
