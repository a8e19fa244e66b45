"""The notice for the notice board: an A4 HTML page with print CSS (Jinja,
app/templates/notices/print.html), a QR code to the online version, the same page as PDF
where WeasyPrint and a CJK font are installed, and the plain text for the WeChat group.

Only a published (or superseded, marked as such) notice is printable, by anyone with the
link: it is what hangs on the board anyway, and it holds no personal data (the sources
never put any in).
"""
from __future__ import annotations

import functools
import subprocess

from flask import render_template

from app.errors import NotFound, ServiceUnavailable
from app.extensions import db
from app.models import Notice
from app.services.notices import flow, view


def printable(notice_id: int) -> Notice:
    notice = db.session.get(Notice, notice_id)
    if notice is None or notice.status not in flow.PUBLIC:
        raise NotFound("公示不存在或尚未发布", code="notice_not_found")
    return notice


def qr_svg(url: str) -> str | None:
    try:
        import segno
    except ImportError:  # the page still prints; the URL is written under the code's place
        return None
    return segno.make(url, error="m").svg_inline(scale=3)


def html(notice_id: int, online_url: str) -> str:
    notice = printable(notice_id)
    return render_template("notices/print.html", notice=view.display(notice),
                           qr=qr_svg(online_url), online_url=online_url)


def text(notice_id: int) -> str:
    return view.plain_text(printable(notice_id))


@functools.cache
def cjk_font() -> bool:
    """Whether fontconfig knows a font covering Chinese (WeasyPrint draws boxes otherwise)."""
    try:
        found = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True,
                               text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(found.strip())


def pdf(notice_id: int, online_url: str) -> bytes:
    page = html(notice_id, online_url)
    try:
        import weasyprint
    except ImportError:
        weasyprint = None
    if weasyprint is None or not cjk_font():
        raise ServiceUnavailable("服务器未安装 PDF 组件或中文字体，请在浏览器中打开打印页后打印",
                                 code="pdf_unavailable")
    return weasyprint.HTML(string=page).write_pdf()
