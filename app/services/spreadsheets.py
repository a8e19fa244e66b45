"""Excel workbooks (.xlsx) for exports: sheets of a header and rows, to bytes and a download.

Any feature that exports a table (the 双报到 roster and employer roll-up, the canteen's
monthly subsidy report) builds `Sheet`s and answers `xlsx_response(sheets, filename)`:

    sheet = spreadsheets.Sheet("花名册", ["姓名", "次数", "时长（小时）"], rows)
    return spreadsheets.xlsx_response([sheet], "示范社区花名册2026.xlsx", "roster-2026.xlsx")

- `workbook_bytes(sheets)` writes the workbook in openpyxl's write-only mode (rows stream
  out, memory stays flat for long sheets), bold header row frozen at the top, column widths
  from the longest value (CJK characters count twice) within `MIN_WIDTH`..`MAX_WIDTH`.
- Cells are formula-safe: text that starts like a formula (`=`, `+`, `-`, `@`) is stored
  as a string cell with Excel's quote prefix (as if typed after a `'`), never evaluated when
  opened or edited, so a member who types `=HYPERLINK(...)` as an employer cannot plant a
  formula in a staff member's spreadsheet. Characters XML cannot hold (control characters)
  are dropped, aware datetimes are written as Asia/Shanghai wall-clock time (Excel has no
  time zones), `None` is an empty cell.
- `xlsx_response(...)` is the Flask response: the .xlsx mimetype, `Content-Disposition:
  attachment` with an ASCII fallback `filename` and the real (Chinese) name as RFC 5987
  `filename*=UTF-8''...`, and `Cache-Control: private, no-store` (exports hold people's
  names).

Nothing here queries or commits; callers pass plain values (str, int, float, Decimal,
date, datetime, bool, None).
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from io import BytesIO
from typing import Any
from urllib.parse import quote

from flask import Response
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from app import timeutil

MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MIN_WIDTH = 6
MAX_WIDTH = 60
# Width is measured on this many rows at most: enough for a fair width, bounded for big sheets.
WIDTH_SAMPLE = 1000
_FORMULA_START = ("=", "+", "-", "@")
# Excel refuses sheet titles over 31 characters or with any of these.
_BAD_TITLE = re.compile(r"[\\/*?:\[\]]")
_HEADER_FONT = Font(bold=True)


@dataclass
class Sheet:
    """One worksheet: a title (≤ 31 characters), a header row and data rows.

    `widths` overrides the measured column widths (characters) where given."""
    title: str
    header: Sequence[str]
    rows: Iterable[Sequence[Any]]
    widths: Sequence[int | None] = field(default_factory=tuple)


def sheet_title(title: str) -> str:
    """A title Excel accepts: forbidden characters replaced, at most 31 characters."""
    return _BAD_TITLE.sub("_", title).strip()[:31] or "Sheet"


def cell_value(value: Any) -> Any:
    """A plain value as openpyxl should store it (see the module docstring)."""
    if value is None or isinstance(value, bool | int | float | Decimal):
        return value
    if isinstance(value, datetime):
        return timeutil.local(value).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return value
    return ILLEGAL_CHARACTERS_RE.sub("", str(value))


def display_width(value: Any) -> int:
    """Columns a value takes on screen: wide (CJK) characters count as two."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    text = str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _widths(header: Sequence[str], rows: Sequence[Sequence[Any]],
            given: Sequence[int | None]) -> list[int]:
    widths = [display_width(name) for name in header]
    for row in rows[:WIDTH_SAMPLE]:
        for i, value in enumerate(row[:len(widths)]):
            widths[i] = max(widths[i], display_width(value))
    out = [min(MAX_WIDTH, max(MIN_WIDTH, w + 2)) for w in widths]
    for i, width in enumerate(given[:len(out)]):
        if width:
            out[i] = width
    return out


def _cell(ws, value: Any, font: Font | None = None) -> Any:
    """A value to append: plain, or a cell where it needs a style or must stay text."""
    value = cell_value(value)
    if font is None and not (isinstance(value, str) and value.startswith(_FORMULA_START)):
        return value  # openpyxl makes the cell; a third of the time of making it here
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        cell.data_type = "s"  # openpyxl would store "=..." as a formula
        cell.quotePrefix = True  # and Excel keeps it text when someone edits the cell
    if font is not None:
        cell.font = font
    return cell


def workbook_bytes(sheets: Sequence[Sheet]) -> bytes:
    """The .xlsx file holding `sheets`, in order (at least one)."""
    if not sheets:
        raise ValueError("a workbook needs at least one sheet")
    book = Workbook(write_only=True)
    for sheet in sheets:
        rows = sheet.rows if isinstance(sheet.rows, Sequence) else list(sheet.rows)
        ws = book.create_sheet(sheet_title(sheet.title))
        for i, width in enumerate(_widths(sheet.header, rows, sheet.widths), start=1):
            ws.column_dimensions[get_column_letter(i)].width = width
        ws.freeze_panes = "A2"
        ws.append([_cell(ws, name, _HEADER_FONT) for name in sheet.header])
        for row in rows:
            ws.append([_cell(ws, value) for value in row])
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def content_disposition(filename: str, fallback: str | None = None) -> str:
    """`attachment` with an ASCII fallback name (given, or the ASCII part of `filename`)
    for old clients and the UTF-8 name (RFC 5987 / RFC 6266) for the rest."""
    stem, dot, suffix = (fallback or filename).rpartition(".")
    if not dot:
        stem, suffix = suffix, "xlsx"
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_") or "export"
    suffix = re.sub(r"[^A-Za-z0-9]+", "", suffix) or "xlsx"
    fallback = f"{stem}.{suffix}"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def xlsx_response(sheets: Sequence[Sheet] | bytes, filename: str,
                  fallback: str | None = None) -> Response:
    """The download of a workbook (sheets, or bytes from `workbook_bytes`) as `filename`
    (`fallback`: the ASCII name for clients without RFC 5987, e.g. "roster-2026.xlsx")."""
    data = sheets if isinstance(sheets, bytes) else workbook_bytes(sheets)
    return Response(data, mimetype=MIMETYPE, headers={
        "Content-Disposition": content_disposition(filename, fallback),
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    })
