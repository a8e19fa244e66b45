"""The import framework: a kind of sheet declares its columns and its natural key, reads its
current rows (exports, and the diff), and writes one row; `run` does the rest, the same way
for every kind.

- `Column(header, field, type, required, ...)`: the Chinese header, the field it fills, its
  type (`text`, `int`, `decimal`, `date`, `time`, `choice`, `list`), whether it is part of
  the natural key, and `readonly` (exported for the reader, ignored on import) or `private`
  (care tags, phones: a kind drops or masks it for roles that may not see it).
- A column left out of the uploaded file is neither compared nor written (a sheet of
  names and phones leaves the care tags alone).
- `Kind`: `columns(ctx)`, `context(user, filters)` (scope, authorization: 403 / 422),
  `current(ctx)` (dicts by field, in export order), `existing(ctx, key)` (the row an
  incoming key matches, or None), `check(ctx, row)` (a row's scope and references: a
  Chinese message, or None) and `write(ctx, row, old)` (create or update through the
  feature's own rules; an `AppError` there is that row's error).
- `run(kind, user, data, filters, commit)` -> `Report`: reads the file (app.services.excel.
  reading), maps the headers, parses every cell, refuses a key twice in the file, then
  writes every new or changed row, each in a savepoint so one bad row does not hide the
  others. A dry run rolls everything back; a commit with any error rolls everything back and
  raises 422 `import_invalid` with the report; otherwise one commit. Importing the same file
  again finds every row unchanged and writes nothing. `Report.changes` keeps what was
  written (key, before, after) for the console's audit row.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError

from app.errors import AppError, ValidationFailed
from app.extensions import db
from app.services.excel import reading
from app.services.excel.reading import CellError
from app.services.idempotency import holding_commits

LIST_SEPARATORS = ("；", ";", "、", "，", ",", "\n")
ERROR_HEADER = "错误"
AUDITED_CHANGES = 5000  # rows of before/after kept in the audit row of one import


@dataclass(frozen=True)
class Column:
    header: str
    field: str
    type: str = "text"
    required: bool = False
    key: bool = False
    readonly: bool = False
    private: bool = False
    max_len: int = 100
    choices: tuple[str, ...] = ()  # labels, for `choice` and `list`
    lo: Any = None
    hi: Any = None
    places: int = 2
    unordered: bool = False  # a `list` whose order means nothing (compared as a set)
    note: str = ""  # the template's input message

    def parse(self, raw) -> Any:
        if self.type == "text":
            value = reading.text(raw, self.max_len)
        elif raw is None or (isinstance(raw, str) and not raw.strip()):
            value = None
        elif self.type == "int":
            value = reading.to_int(raw, self.lo, self.hi)
        elif self.type == "decimal":
            value = reading.to_decimal(raw, self.lo, self.hi, self.places)
        elif self.type == "date":
            value = reading.to_date(raw)
        elif self.type == "time":
            value = reading.to_time(raw)
        elif self.type == "choice":
            value = reading.text(raw, self.max_len)
            if value not in self.choices:
                raise CellError("应为以下之一：" + "、".join(self.choices))
        else:  # list
            value = split_list(reading.text(raw, self.max_len) or "")
            wrong = [v for v in value if self.choices and v not in self.choices]
            if wrong:
                raise CellError(f"“{wrong[0]}”无效，应为：" + "、".join(self.choices))
            value = tuple(value) or None
        if value is None and self.required:
            raise CellError("此项为必填项")
        return value

    def render(self, value) -> Any:
        """The cell an export writes for a value this column would parse back to it."""
        if value is None:
            return None
        if self.type == "list":
            return "；".join(value)
        if self.type == "time":
            return value.strftime("%H:%M")
        return value


def split_list(raw: str) -> list[str]:
    for sep in LIST_SEPARATORS[1:]:
        raw = raw.replace(sep, LIST_SEPARATORS[0])
    seen: list[str] = []
    for part in raw.split(LIST_SEPARATORS[0]):
        part = part.strip()
        if part and part not in seen:
            seen.append(part)
    return seen


@dataclass
class RowError:
    row: int
    column: str
    message: str


@dataclass
class Report:
    kind: str
    dry_run: bool
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    header: list = field(default_factory=list)
    rows: list = field(default_factory=list)  # (row number, raw values), for the error sheet
    changes: list = field(default_factory=list)  # what was written, before and after (audit)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "dry_run": self.dry_run, "created": self.created,
                "updated": self.updated, "unchanged": self.unchanged,
                "errors": [e.__dict__ for e in self.errors]}


@dataclass
class Ctx:
    """What a kind works with for one request: who, where, the list's filters, whether the
    user may see the private columns, and look-ups the kind caches (names -> rows)."""
    user: Any
    community: Any
    filters: dict
    private: bool = False
    lookups: dict = field(default_factory=dict)


class Kind:
    """A kind of sheet (see the module docstring); subclasses fill in the hooks."""
    name = ""
    title = ""
    COLUMNS: tuple[Column, ...] = ()

    def columns(self, ctx) -> tuple[Column, ...]:
        return self.COLUMNS

    def context(self, user, filters: dict, writing: bool):  # pragma: no cover - abstract
        raise NotImplementedError

    def current(self, ctx):  # pragma: no cover - abstract
        raise NotImplementedError

    def existing(self, ctx, row: dict):  # pragma: no cover - abstract
        raise NotImplementedError

    def check(self, ctx, row: dict) -> tuple[str, str] | None:
        """(column header, message) when the row may not be written here."""
        return None

    def write(self, ctx, row: dict, old) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def after(self, ctx) -> None:
        """Called once after a commit that wrote something."""

    def key_of(self, ctx, row: dict) -> tuple:
        return tuple(row.get(c.field) for c in self.columns(ctx) if c.key)

    def compare(self, ctx, old: dict, row: dict) -> bool:
        """True when the incoming row would change nothing."""
        return all(_same(old.get(c.field), row[c.field], c.unordered)
                   for c in self.columns(ctx)
                   if not c.readonly and not c.key and c.field in row)


def _same(a, b, unordered: bool = False) -> bool:
    if unordered:
        return set(a or ()) == set(b or ())
    if isinstance(a, list):
        a = tuple(a)
    if isinstance(b, list):
        b = tuple(b)
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return a is not None and b is not None and Decimal(a) == Decimal(b)
    return a == b or (a in (None, (), "") and b in (None, (), ""))


def export_rows(kind: Kind, ctx):
    """Header and rows of the kind's current data, cells as the template's columns."""
    columns = kind.columns(ctx)
    header = [c.header for c in columns]
    return header, ([c.render(item.get(c.field)) for c in columns] for item in kind.current(ctx))


def _map_header(columns: tuple[Column, ...], header: list) -> dict[str, int]:
    by_header = {c.header: c for c in columns}
    found: dict[str, int] = {}
    for index, name in enumerate(header):
        name = str(name).strip() if name is not None else ""
        if not name or name == ERROR_HEADER:
            continue
        if name not in by_header:
            raise reading.refuse(f"表头中有无法识别的列：“{name[:20]}”，请使用下载的模板")
        if name in found:
            raise reading.refuse(f"表头中“{name}”出现了两次")
        found[name] = index
    missing = [c.header for c in columns if (c.required or c.key) and not c.readonly
               and c.header not in found]
    if missing:
        raise reading.refuse("缺少必需的列：" + "、".join(missing))
    return found


def parse_rows(kind: Kind, ctx, header: list, rows: list, report: Report) -> list:
    columns = kind.columns(ctx)
    positions = _map_header(columns, header)
    good, seen = [], {}
    for number, values in rows:
        parsed, failed = {}, False
        for column in columns:
            if column.readonly or column.header not in positions:
                continue
            index = positions[column.header]
            raw = values[index] if index < len(values) else None
            try:
                parsed[column.field] = column.parse(raw)
            except CellError as error:
                report.errors.append(RowError(number, column.header, str(error)))
                failed = True
        if failed:
            continue
        key = kind.key_of(ctx, parsed)
        if key in seen:
            report.errors.append(RowError(number, _key_header(columns),
                                          f"与第 {seen[key]} 行重复"))
            continue
        seen[key] = number
        good.append((number, parsed))
    return good


def _key_header(columns) -> str:
    return "、".join(c.header for c in columns if c.key)


def run(kind: Kind, user, data: bytes, filters: dict, commit: bool) -> Report:
    """Check (dry run) or import a file; see the module docstring."""
    ctx = kind.context(user, filters, writing=True)
    report = Report(kind.name, dry_run=not commit)
    header, rows = reading.open_rows(data)
    report.header, report.rows = header, rows
    good = parse_rows(kind, ctx, header, rows, report)
    wrote = False
    with holding_commits():
        # Every service commit inside only flushes, even one with nothing new to flush.
        db.session.info["written"] = True
        for number, row in good:
            refused = kind.check(ctx, row)
            if refused:
                report.errors.append(RowError(number, *refused))
                continue
            old = kind.existing(ctx, row)
            if old is not None and kind.compare(ctx, old, row):
                report.unchanged += 1
                continue
            savepoint = db.session.begin_nested()
            try:
                kind.write(ctx, row, old)
                db.session.flush()
            except AppError as error:
                savepoint.rollback()
                report.errors.append(RowError(number, _column_of(kind, ctx, error),
                                              error.message))
                continue
            except IntegrityError:  # a racing writer took the key meanwhile
                savepoint.rollback()
                report.errors.append(RowError(number, "整行", "该行刚被他人修改，请重新导入"))
                continue
            savepoint.commit()
            wrote = True
            if len(report.changes) < AUDITED_CHANGES:
                report.changes.append(_change(kind, ctx, number, row, old))
            if old is None:
                report.created += 1
            else:
                report.updated += 1
    report.errors.sort(key=lambda e: e.row)
    if not commit or report.errors:
        db.session.rollback()
        if commit:
            raise ValidationFailed(f"导入文件有 {len(report.errors)} 处错误，未写入任何数据",
                                   code="import_invalid", errors=report.as_dict())
        return report
    db.session.commit()
    if wrote:
        kind.after(ctx)
    return report


def _change(kind: Kind, ctx, number: int, row: dict, old) -> dict:
    """A written row for the audit log: its key, and the written fields before and after."""
    fields = [c.field for c in kind.columns(ctx) if not c.readonly and not c.key and c.field in row]
    return {"row": number, "key": [_json(v) for v in kind.key_of(ctx, row)],
            "before": None if old is None else {f: _json(old.get(f)) for f in fields},
            "after": {f: _json(row[f]) for f in fields}}


def _json(value):
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return value.isoformat() if isinstance(value, date | time) else str(value)


def _column_of(kind: Kind, ctx, error: AppError) -> str:
    """The column an error names in its field errors, else the row as a whole."""
    names = set((error.errors or {}).keys()) if isinstance(error.errors, dict) else set()
    for column in kind.columns(ctx):
        if column.field in names:
            return column.header
    return "整行"


def plain(value):
    """Stored values as a column parses them (dates stay dates, times times)."""
    if isinstance(value, date | time | Decimal | int | str) or value is None:
        return value
    return str(value)
