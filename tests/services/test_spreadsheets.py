"""The shared .xlsx writer, read back with openpyxl: sheets in order with a bold frozen
header, widths that fit Chinese text, formula-safe text, values Excel can hold, and the
download response's mimetype and RFC 5987 filename."""
from __future__ import annotations

import io
from datetime import date, datetime, timezone
from decimal import Decimal
from urllib.parse import unquote

import openpyxl
import pytest

from app.services import spreadsheets
from app.services.spreadsheets import Sheet


def load(data: bytes):
    return openpyxl.load_workbook(io.BytesIO(data))


def test_sheets_header_and_rows_round_trip():
    data = spreadsheets.workbook_bytes([
        Sheet("花名册", ["姓名", "时长（小时）", "日期"],
              [["刘党员", Decimal("16.5"), date(2026, 1, 5)], ["王大姐", 3, None]]),
        Sheet("单位汇总", ["工作单位"], iter([["县人社局"]])),  # any iterable of rows
    ])
    book = load(data)
    assert book.sheetnames == ["花名册", "单位汇总"]
    sheet = book["花名册"]
    assert [list(row) for row in sheet.iter_rows(values_only=True)] == [
        ["姓名", "时长（小时）", "日期"], ["刘党员", 16.5, datetime(2026, 1, 5)],
        ["王大姐", 3, None]]
    assert sheet["A1"].font.b and not sheet["A2"].font.b
    assert sheet.freeze_panes == "A2"
    assert [list(r) for r in book["单位汇总"].iter_rows(values_only=True)] == [
        ["工作单位"], ["县人社局"]]


def test_widths_count_chinese_characters_twice_within_bounds():
    sheet = load(spreadsheets.workbook_bytes([Sheet(
        "s", ["姓名", "id", "说明"], [["欧阳娜娜", 1, "很" * 100]], widths=(None, 12))])).active
    assert sheet.column_dimensions["A"].width == 10  # 4 wide characters + 2
    assert sheet.column_dimensions["B"].width == 12  # given
    assert sheet.column_dimensions["C"].width == spreadsheets.MAX_WIDTH
    assert spreadsheets.display_width("县人社局ab") == 10


@pytest.mark.parametrize("text", ["=1+1", '=HYPERLINK("http://x","点")', "+86 138", "-2+3",
                                  "@SUM(A1)"])
def test_text_that_looks_like_a_formula_stays_text(text):
    cell = load(spreadsheets.workbook_bytes([Sheet("s", ["x"], [[text]])])).active["A2"]
    assert (cell.value, cell.data_type, cell.quotePrefix) == (text, "s", True)


def test_values_excel_cannot_hold_are_made_safe():
    moment = datetime(2026, 1, 5, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai
    sheet = load(spreadsheets.workbook_bytes([Sheet(
        "a/b:c?*[d]" + "x" * 40, ["x", "y", "z"], [["a\x00b\x1fc", moment, True]])])).active
    assert sheet.title == "a_b_c___d_xxxxxxxxxxxxxxxxxxxxx"[:31]
    assert [c.value for c in sheet[2]] == ["abc", datetime(2026, 1, 5, 10, 0), True]


def test_a_workbook_needs_a_sheet():
    with pytest.raises(ValueError):
        spreadsheets.workbook_bytes([])


def test_the_download_response(app):
    with app.test_request_context():
        response = spreadsheets.xlsx_response([Sheet("s", ["x"], [[1]])],
                                              "示范社区 花名册2026.xlsx", "roster-2026.xlsx")
    assert response.mimetype == spreadsheets.MIMETYPE
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="roster-2026.xlsx"; filename*=UTF-8\'\'')
    assert unquote(disposition.split("UTF-8''")[1]) == "示范社区 花名册2026.xlsx"
    assert " " not in disposition.split("UTF-8''")[1]  # percent-encoded, RFC 5987
    assert response.headers["Cache-Control"] == "private, no-store"
    assert load(response.get_data()).active["A2"].value == 1
    # Without an ASCII name: the ASCII part of the name, or a plain default.
    for name, ascii_name in (('a"b\\c.xlsx', "a_b_c.xlsx"), ("花名册.xlsx", "export.xlsx"),
                             ("示范社区花名册2026.xlsx", "2026.xlsx"), ("报表", "export.xlsx")):
        assert spreadsheets.content_disposition(name).startswith(
            f'attachment; filename="{ascii_name}"; '), name
