"""A notice as people read it, one builder for every format (the API's `display`, the
printable page, the plain text for the WeChat group): its title, and each section of
`sources.SOURCES` in order with its lines (label, value), listed items and the
secretary's note. A section whose source has not landed (no figures) is left out."""
from __future__ import annotations

from app import timeutil
from app.models import Notice, NoticeStatus
from app.services.notices import sources, weeks


def _lines(key: str, f: dict) -> list[tuple[str, str]]:
    if key == "secretary":
        lines = [("小区党组织书记", "、".join(f.get("names") or []) or "暂无")]
        if f.get("contact"):
            lines.append(("联系方式", f["contact"]))
        lines.append(("党群服务站", f.get("station_address") or "未填写"))
        lines.append(("服务时间", f.get("station_hours") or "未填写"))
        return lines
    if key == "visits":
        return [("本周走访", f"{f['total']} 次"),
                ("书记走访住户", f"{f['by_secretary']} 户（目标 {f['target']} 户，"
                 f"{'已完成' if f['met'] else '未完成'}）")]
    if key == "incidents":
        return [("本周受理", f["received"]), ("按时响应", f["responded_on_time"]),
                ("按时办结", f["resolved_on_time"]), ("超时未办结", f["overdue"]),
                ("上报部门（吹哨）", f["escalated"]), ("办理中", f["open"])]
    if key == "wishes":
        return [("新发布", f["posted"]), ("被认领", f["claimed"]), ("已完成", f["completed"])]
    if key == "canteen":
        rating = f"{f['rating']} 分（{f['ratings']} 条评价）" if f.get("rating") is not None \
            else f"评价{f['ratings']}条，暂不公布评分"
        return [("供餐份数", f["served"]), ("居民评分", rating)]
    if key == "party":
        return [("参与党员", f"{f['members']} 人"), ("服务时长", f"{f['hours']} 小时")]
    return []


def title(notice: Notice) -> str:
    text = f"{notice.compound.name}{weeks.title(notice.iso_year, notice.iso_week)}"
    return text + (f"（第{notice.version}版·更正）" if notice.corrects_id else "")


def display(notice: Notice) -> dict:
    shown = sources.present(notice.snapshot or {})
    notes = notice.sections or {}
    sections = []
    for key, (heading, path) in sources.SOURCES.items():
        figures = shown.get(key)
        if path is not None and figures is None:
            continue  # the source's feature is not there: the section is left out
        sections.append({"key": key, "title": heading,
                         "lines": [(label, str(value)) for label, value in
                                   _lines(key, figures or {})],
                         "listed": (figures or {}).get("open_items", []),
                         "note": notes.get(key)})
    week = shown.get("week", {})
    return {"title": title(notice), "week": weeks.name(notice.iso_year, notice.iso_week),
            "from": week.get("from"), "to": week.get("to"), "sections": sections,
            "version": notice.version, "correction": notice.correction_note,
            "superseded": notice.status is NoticeStatus.SUPERSEDED,
            "published_at": notice.published_at,
            "published_on": timeutil.local(notice.published_at).strftime("%Y年%m月%d日")
            if notice.published_at else None}


def plain_text(notice: Notice) -> str:
    """For pasting into the compound's WeChat group."""
    shown = display(notice)
    out = [f"【{shown['title']}】"]
    if shown["correction"]:
        out.append(f"更正说明：{shown['correction']}")
    for section in shown["sections"]:
        out.append(f"\n■ {section['title']}")
        out += [f"{label}：{value}" for label, value in section["lines"]]
        out += [f"· {i['building']} {i['category']}（{i['status']}，{i['since']}起）"
                for i in section["listed"]]
        if section["note"]:
            out.append(section["note"])
    return "\n".join(out) + "\n"
