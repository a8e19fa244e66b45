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


FONT_MISSING = ("服务器未安装中文字体，暂时无法生成 PDF，请在浏览器中打开打印页后打印"
                "（管理员请安装 fonts-wqy-microhei）")
PDF_LIBRARY_MISSING = "服务器缺少 PDF 组件，请在浏览器中打开打印页后打印"


@functools.cache
def _has_cjk_font() -> bool:
    try:
        found = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True,
                               text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(found.strip())


def cjk_font() -> bool:
    """Whether fontconfig knows a font covering Chinese (WeasyPrint draws empty boxes
    otherwise). A yes is remembered for the process; a no is asked again next time, so a
    font installed while the app runs counts at once."""
    found = _has_cjk_font()
    if not found:
        _has_cjk_font.cache_clear()
    return found


def _weasyprint():
    from PIL import ImageFile
    try:
        import weasyprint
    except (ImportError, OSError):  # OSError: pango's libraries are missing
        return None
    finally:
        # Importing WeasyPrint sets Pillow's process-wide LOAD_TRUNCATED_IMAGES; uploads
        # must go on refusing truncated images (app.services.uploads), so put it back.
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    return weasyprint


def pdf(notice_id: int, online_url: str) -> bytes:
    """The print page as an A4 PDF (WeasyPrint renders the same HTML and its print CSS);
    503 `pdf_unavailable` where no font covers Chinese, or WeasyPrint cannot load."""
    page = html(notice_id, online_url)
    if not cjk_font():
        raise ServiceUnavailable(FONT_MISSING, code="pdf_unavailable")
    weasyprint = _weasyprint()
    if weasyprint is None:
        raise ServiceUnavailable(PDF_LIBRARY_MISSING, code="pdf_unavailable")
    return weasyprint.HTML(string=page).write_pdf()
