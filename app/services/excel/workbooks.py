"""The workbooks around an import: the blank template with data validation, and the error
workbook (the uploaded rows with an added 错误 column).

- `template_bytes(kind, ctx)`: the Chinese header (required columns marked by a comment),
  a list validation for every `choice` column (values on a hidden 选项 sheet, so long lists
  fit), whole-number / decimal / date validations, an input message per column.
- `error_bytes(report)`: every uploaded row as it came (formula-safe, through
  app.services.spreadsheets), the rows with errors first, each with its messages joined in
  the 错误 column; the header is the uploaded one, so the fixed file imports as it is.
"""
from __future__ import annotations

from io import BytesIO

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation

from app.services import spreadsheets
from app.services.excel.kinds import ERROR_HEADER, Kind, Report

TEMPLATE_ROWS = 5000  # validations cover this many rows below the header
_TYPES = {"int": ("whole", "请填写整数"), "decimal": ("decimal", "请填写数字"),
          "date": ("date", "请填写日期，如 2026-01-05")}


def template_bytes(kind: Kind, ctx) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = spreadsheets.sheet_title(kind.title)
    options = book.create_sheet("选项")
    options.sheet_state = "hidden"
    columns = [c for c in kind.columns(ctx) if not c.readonly]
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        cell = sheet.cell(row=1, column=index, value=column.header)
        cell.font = Font(bold=True, color="C00000" if column.required or column.key else None)
        sheet.column_dimensions[letter].width = max(12, spreadsheets.display_width(
            column.header) + 4)
        rows = f"{letter}2:{letter}{TEMPLATE_ROWS + 1}"
        note = column.note or ("必填" if column.required or column.key else "选填")
        if column.type == "choice":
            for i, choice in enumerate(column.choices, start=1):
                options.cell(row=i, column=index, value=choice)
            source = (f"{quote_sheetname(options.title)}!${letter}$1:${letter}$"
                      f"{max(len(column.choices), 1)}")
            check = DataValidation(type="list", formula1=source, allow_blank=True,
                                   showErrorMessage=True, error="请从下拉列表中选择",
                                   errorTitle="无效的值")
        elif column.type in _TYPES:
            kind_name, message = _TYPES[column.type]
            lo, hi = (column.lo, column.hi) if column.type != "date" else ("36526", "73051")
            check = DataValidation(type=kind_name, operator="between", formula1=str(lo),
                                   formula2=str(hi), allow_blank=True, showErrorMessage=True,
                                   error=message, errorTitle="无效的值")
        elif column.type in ("text", "list") and column.max_len:
            check = DataValidation(type="textLength", operator="lessThanOrEqual",
                                   formula1=str(column.max_len), allow_blank=True,
                                   showErrorMessage=True, error=f"不能超过 {column.max_len} 个字",
                                   errorTitle="内容过长")
        else:
            check = DataValidation(allow_blank=True)
        check.promptTitle, check.prompt, check.showInputMessage = column.header, note[:250], True
        check.add(rows)
        sheet.add_data_validation(check)
        cell.comment = Comment(note[:250], "邻里")
        if column.type in ("text", "list", "time"):
            for row in range(2, 202):  # typed text stays text (a room "0101", a time)
                sheet.cell(row=row, column=index).number_format = "@"
    sheet.freeze_panes = "A2"
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def error_bytes(report: Report) -> bytes:
    by_row: dict[int, list[str]] = {}
    for error in report.errors:
        by_row.setdefault(error.row, []).append(f"{error.column}：{error.message}")
    width = len(report.header)
    keep = [i for i, name in enumerate(report.header) if str(name or "").strip() != ERROR_HEADER]
    header = [report.header[i] for i in keep] + [ERROR_HEADER]

    def cells(values):
        values = list(values) + [None] * (width - len(values))
        return [values[i] for i in keep]

    bad = [cells(v) + ["；".join(by_row[n])] for n, v in report.rows if n in by_row]
    file_errors = [[None] * len(keep) + [f"第 {n} 行：" + "；".join(m)]
                   for n, m in by_row.items() if n not in {r for r, _ in report.rows}]
    good = [cells(v) + [None] for n, v in report.rows if n not in by_row]
    widths = [None] * len(keep) + [60]
    return spreadsheets.workbook_bytes([spreadsheets.Sheet(
        "错误报告", header, bad + file_errors + good, widths=widths)])
