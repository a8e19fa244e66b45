"""Every kind of sheet by name, and the filters a list's URL may carry.

`KINDS`: households, party, buildings, guides, menus (import and export) and incidents,
wishes, users, bookings (export only). `get(name, importing)` -> the kind, 404
`sheet_kind_not_found` otherwise. `parse_filters(kind, args)`: ids, a status of the kind's
own (for a kind with statuses), a week; anything else in the query string is ignored, a bad value is 422."""
from __future__ import annotations

from app.errors import NotFound, ValidationFailed
from app.services.excel import buildings, guides, households, lists, menus, party
from app.services.excel.reading import CellError, to_date, to_int

KINDS = {kind.name: kind for kind in (
    households.KIND, party.KIND, buildings.KIND, guides.KIND, menus.KIND,
    lists.Incidents(), lists.Wishes(), lists.Users(), lists.Bookings())}
IMPORTABLE = tuple(name for name, kind in KINDS.items() if getattr(kind, "importable", True))
IDS = ("community_id", "compound_id", "building_id", "canteen_id")


def get(name: str, importing: bool = False):
    kind = KINDS.get(name)
    if kind is None or (importing and name not in IMPORTABLE):
        raise NotFound("没有这种表格", code="sheet_kind_not_found")
    return kind


def parse_filters(kind, args) -> dict:
    filters, errors = {}, {}
    for name in IDS:
        raw = (args.get(name) or "").strip()
        if raw:
            try:
                filters[name] = to_int(raw, 1, 2**31 - 1)
            except CellError as error:
                errors[name] = [str(error)]
    status = (args.get("status") or "").strip()
    if status and getattr(kind, "STATUSES", ()):
        if status in getattr(kind, "STATUSES", ()):
            filters["status"] = status
        else:
            errors["status"] = ["无效的状态"]
    week = (args.get("week") or "").strip()
    if week:
        try:
            filters["week"] = to_date(week)
        except CellError as error:
            errors["week"] = [str(error)]
    if errors:
        raise ValidationFailed("筛选条件无效", code="validation_error", errors=errors)
    return filters


def stored(filters: dict) -> dict:
    """Filters as JSON (an export job keeps them)."""
    return {k: (v.isoformat() if k == "week" else v) for k, v in filters.items()}
