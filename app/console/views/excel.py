"""Excel in the console: import a sheet (upload -> dry-run report -> commit), download its
template or the error workbook, export any list's current filter, and big exports as jobs.

The uploaded file waits in storage between the dry run and the commit under a key holding
the user's id and a random token (`imports/<user>/<token>.xlsx`), so only its uploader can
commit it; the error workbook is stored beside it. Commits are audited (counts as "after").
Everything goes through app.services.excel, the same code as the catalog's API import."""
from __future__ import annotations

import re
import secrets

from flask import abort, flash, g, redirect, render_template, request, url_for

from app.console import audit
from app.console.web import bp
from app.errors import ValidationFailed
from app.extensions import db
from app.services import spreadsheets
from app.services.excel import exports, kinds, registry, workbooks
from app.storage import get_storage

TOKEN = re.compile(r"^[A-Za-z0-9_-]{22}$")


def _key(token: str, suffix: str = "") -> str:
    if not TOKEN.match(token):
        abort(404)
    return f"imports/{g.console_user.id}/{token}{suffix}.xlsx"


def _read(key: str) -> bytes:
    try:
        return get_storage().read(key)
    except (OSError, ValueError):
        abort(404)


@bp.get("/excel")
def excel():
    """Excel import and export: every kind, and my recent big exports"""
    return render_template("console/excel.html", kinds=registry.KINDS,
                           importable=registry.IMPORTABLE, jobs=exports.recent(g.console_user))


@bp.get("/imports/<kind>")
def import_page(kind: str):
    """Import a sheet: upload for a dry run"""
    sheet = registry.get(kind, importing=True)
    ctx = sheet.context(g.console_user, registry.parse_filters(sheet, request.args), True)
    return render_template("console/import.html", kind=sheet,
                           columns=[c for c in sheet.columns(ctx) if not c.readonly],
                           report=None)


@bp.get("/imports/<kind>/template.xlsx")
def import_template(kind: str):
    """The blank template of a sheet, with data validation"""
    sheet = registry.get(kind, importing=True)
    ctx = sheet.context(g.console_user, registry.parse_filters(sheet, request.args), True)
    return spreadsheets.xlsx_response(workbooks.template_bytes(sheet, ctx),
                                      f"{sheet.title}模板.xlsx", f"{sheet.name}-template.xlsx")


@bp.post("/imports/<kind>")
def import_check(kind: str):
    """Upload a sheet: the dry run lists every bad row"""
    sheet = registry.get(kind, importing=True)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationFailed("请选择要导入的 Excel 文件", code="validation_error")
    data = upload.read()
    filters = registry.parse_filters(sheet, request.form)
    report = kinds.run(sheet, g.console_user, data, filters, commit=False)
    token = secrets.token_urlsafe(16)
    get_storage().save(_key(token), data)
    if report.errors:
        get_storage().save(_key(token, "-errors"), workbooks.error_bytes(report))
    ctx = sheet.context(g.console_user, filters, True)
    return render_template("console/import.html", kind=sheet, report=report, token=token,
                           filters=filters,
                           columns=[c for c in sheet.columns(ctx) if not c.readonly])


@bp.get("/imports/<kind>/<token>/errors.xlsx")
def import_errors(kind: str, token: str):
    """The uploaded rows with an added 错误 column"""
    sheet = registry.get(kind, importing=True)
    return spreadsheets.xlsx_response(_read(_key(token, "-errors")), f"{sheet.title}错误报告.xlsx",
                                      f"{sheet.name}-errors.xlsx")


@bp.post("/imports/<kind>/<token>/commit")
def import_commit(kind: str, token: str):
    """Commit a checked sheet: all rows or none"""
    sheet = registry.get(kind, importing=True)
    data = _read(_key(token))
    filters = registry.parse_filters(sheet, request.form)
    user = g.console_user
    try:
        report = kinds.run(sheet, user, data, filters, commit=True)
    except ValidationFailed as error:
        if error.code != "import_invalid":
            raise
        flash(error.message, "error")
        return redirect(url_for("console.import_page", kind=kind))
    audit.record(user.id, f"import_{sheet.name}", sheet.name, None,
                 {"changes": [c["before"] for c in report.changes]},
                 {**report.as_dict(), "changes": report.changes})
    db.session.commit()
    get_storage().delete(_key(token))
    get_storage().delete(_key(token, "-errors"))
    flash(f"导入完成：新增 {report.created} 条，更新 {report.updated} 条，"
          f"未变 {report.unchanged} 条", "ok")
    return render_template("console/import.html", kind=sheet, report=report, token=None,
                           done=True, columns=[])


@bp.get("/exports/<kind>.xlsx")
def export(kind: str):
    """Export a list's current filter as .xlsx (big ones: as a job)"""
    sheet = registry.get(kind)
    filters = registry.parse_filters(sheet, request.args)
    found = exports.export(g.console_user, kind, filters)
    if found is None:
        return render_template("console/export_big.html", kind=sheet,
                               filters=registry.stored(filters))
    return spreadsheets.xlsx_response(*found)


@bp.post("/exports/<kind>/jobs")
def export_job(kind: str):
    """Queue a big export; it arrives in the inbox"""
    sheet = registry.get(kind)
    exports.queue(g.console_user, kind, registry.parse_filters(sheet, request.form))
    flash(f"{sheet.title}导出已提交，生成后会通过消息通知您下载", "ok")
    return redirect(url_for("console.excel"))


@bp.get("/exports/jobs/<int:job_id>/download")
def export_download(job_id: int):
    """Download a big export (its owner only)"""
    data, filename, fallback = exports.download(g.console_user, job_id)
    return spreadsheets.xlsx_response(data, filename, fallback)

