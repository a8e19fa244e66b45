"""Reading an uploaded .xlsx safely: the file's size and shape first, then openpyxl (which
parses with defusedxml when it is installed, as it is here: `openpyxl.DEFUSEDXML`), then every
cell checked as text.

- `open_rows(data)` -> (header, [(row number, [cell, ...]), ...]): refuses (422
  `invalid_spreadsheet`, a Chinese message) a file over `IMPORT_MAX_BYTES`, anything that is
  not an .xlsx zip (an .xls, a .csv, a renamed picture), a zip bomb (too many members, too
  many bytes unpacked, a member compressed too well), an XML bomb or external entity
  (defusedxml), formulas, and more than `IMPORT_MAX_ROWS` rows.
- `text(value)`, `to_int`, `to_decimal`, `to_date`, `to_time`: one cell to a checked
  value, raising `CellError(Chinese message)`: lone surrogates, control characters, lengths,
  dates within 2000–2100.
"""
from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation

import openpyxl
from defusedxml import DefusedXmlException
from flask import current_app

from app.errors import ValidationFailed

MAX_MEMBERS = 200
MAX_UNPACKED = 60 * 1024 * 1024  # bytes of XML, all members together
MAX_RATIO = 200  # a worksheet of repeated cells compresses ~30x; a bomb far more
MAX_COLUMNS = 40
YEARS = (2000, 2100)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_TIME = re.compile(r"^(\d{1,2})[:：](\d{2})(?::(\d{2}))?$")


class CellError(ValueError):
    """A cell's value is not acceptable; the message is Chinese, for the user."""


def refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, code="invalid_spreadsheet")


def _check_zip(data: bytes) -> None:
    limit = current_app.config.get("IMPORT_MAX_BYTES", 5 * 1024 * 1024)
    if len(data) > limit:
        raise refuse(f"文件过大（不能超过 {limit // (1024 * 1024)} MB）")
    if not data.startswith(b"PK") or not zipfile.is_zipfile(io.BytesIO(data)):
        raise refuse("请上传 .xlsx 格式的 Excel 文件（不支持 .xls、.csv 或其他格式）")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            names = {m.filename for m in members}
    except (zipfile.BadZipFile, ValueError, OSError):
        raise refuse("文件已损坏，无法读取") from None
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise refuse("请上传 .xlsx 格式的 Excel 文件（不支持 .xls、.csv 或其他格式）")
    if len(members) > MAX_MEMBERS or sum(m.file_size for m in members) > MAX_UNPACKED or any(
            m.file_size > MAX_RATIO * max(m.compress_size, 1) + 65536 for m in members):
        raise refuse("文件内容异常（解压后过大），已拒绝")


def _broken(error: BaseException) -> ValidationFailed:
    """The refusal for a file openpyxl could not read: defusedxml's refusal (which openpyxl
    wraps in a ValueError) named as such, anything else as a broken file."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, DefusedXmlException):
            return refuse("文件含有不安全的 XML 内容（实体声明或外部引用，如 XML 炸弹），已拒绝")
        error, seen = error.__cause__ or error.__context__, seen + 1
    return refuse("文件已损坏或不是有效的 Excel 文件")


def open_rows(data: bytes) -> tuple[list, list[tuple[int, list]]]:
    """The first sheet's header and data rows (blank rows left out), as openpyxl read them."""
    _check_zip(data)
    max_rows = current_app.config.get("IMPORT_MAX_ROWS", 20000)
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as error:  # noqa: BLE001 - openpyxl raises anything on a broken file
        raise _broken(error) from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise refuse("文件中没有工作表")
        rows: list[tuple[int, list]] = []
        header: list | None = None
        for number, cells in enumerate(sheet.iter_rows(max_col=MAX_COLUMNS), start=1):
            values = []
            for cell in cells:
                if getattr(cell, "data_type", None) == "f":
                    raise refuse(f"第 {number} 行含有公式，请粘贴为数值后再导入")
                values.append(getattr(cell, "value", None))
            if header is None:
                while values and (values[-1] is None or str(values[-1]).strip() == ""):
                    values.pop()
                header = values
                continue
            values = values[:len(header)]
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            if len(rows) >= max_rows:
                raise refuse(f"一次最多导入 {max_rows} 行，请分批导入")
            rows.append((number, values))
    except ValidationFailed:
        raise
    except Exception as error:  # noqa: BLE001
        raise _broken(error) from None
    finally:
        book.close()
    if header is None:
        raise refuse("文件是空的：第一行应为表头")
    return header, rows


def text(value, max_len: int) -> str | None:
    """A cell as stripped text (None when empty), checked."""
    if value is None:
        return None
    if isinstance(value, bool):
        value = "是" if value else "否"
    elif isinstance(value, float) and value.is_integer():
        value = str(int(value))
    elif isinstance(value, datetime):
        value = value.strftime("%Y-%m-%d %H:%M") if value.time() != time(0) else \
            value.date().isoformat()
    value = str(value)
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        raise CellError("含有无效字符（不成对的代理字符）")
    value = unicodedata.normalize("NFC", value.replace("\r\n", "\n")).strip()
    if _CONTROL.search(value):
        raise CellError("含有控制字符，请删除后重试")
    if len(value) > max_len:
        raise CellError(f"不能超过 {max_len} 个字")
    return value or None


def to_int(value, lo: int, hi: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raw = text(value, 12) or ""
        if not re.fullmatch(r"-?\d{1,10}", raw):
            raise CellError("应为整数")
        value = int(raw)
    if not lo <= value <= hi:
        raise CellError(f"应在 {lo} 到 {hi} 之间")
    return value


def to_decimal(value, lo: Decimal, hi: Decimal, places: int) -> Decimal:
    raw = text(value, 20) or ""
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise CellError("应为数字") from None
    if not number.is_finite() or not lo <= number <= hi:
        raise CellError(f"应在 {lo} 到 {hi} 之间")
    quantum = Decimal(1).scaleb(-places)
    if number != number.quantize(quantum):
        raise CellError(f"最多 {places} 位小数")
    return number.quantize(quantum)


def to_date(value) -> date:
    if isinstance(value, datetime):
        if value.time() != time(0):
            raise CellError("应为日期（不含时间）")
        value = value.date()
    if not isinstance(value, date):
        found = _DATE.match(text(value, 20) or "")
        if not found:
            raise CellError("应为日期，如 2026-01-05")
        try:
            value = date(*(int(part) for part in found.groups()))
        except ValueError:
            raise CellError("不是有效的日期") from None
    if not YEARS[0] <= value.year <= YEARS[1]:
        raise CellError(f"年份应在 {YEARS[0]} 到 {YEARS[1]} 之间")
    return value


def to_time(value) -> time:
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0)
    if isinstance(value, datetime):
        raise CellError("应为时间，如 11:30")
    found = _TIME.match(text(value, 10) or "")
    hour, minute = (int(found.group(1)), int(found.group(2))) if found else (99, 99)
    if hour > 23 or minute > 59:
        raise CellError("应为时间，如 11:30")
    return time(hour, minute)
