"""The notification template registry: one entry per message Linli sends.

Each template maps a payload (plain values chosen by the caller) to
- WeChat `data` for a mini-program subscribe message or an official-account template
  message, each value cut to the limit WeChat enforces for its kind (errcode 47003
  otherwise), and
- the Chinese title and text of the in-app inbox entry, and the mini-program page to open.

Template ids come from config (`WECHAT_SUBSCRIBE_TEMPLATES` / `WECHAT_MP_TEMPLATES`, JSON
objects key -> id); in development and tests every key maps to `sandbox-<key>`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from flask import current_app

from app import timeutil

# WeChat's value limits per field kind (subscribe-message documentation): max characters.
LIMITS = {"thing": 20, "number": 32, "letter": 32, "symbol": 5, "character_string": 32,
          "phone_number": 17, "car_number": 8, "name": 10, "phrase": 5, "amount": 12}
ELLIPSIS = "…"


@dataclass(frozen=True)
class Field:
    name: str  # WeChat key, e.g. "thing1"; its prefix is the kind
    source: str  # payload key

    @property
    def kind(self) -> str:
        return re.sub(r"\d+$", "", self.name)


@dataclass(frozen=True)
class Template:
    key: str
    title: str  # inbox title
    text: str  # inbox text, str.format over the payload
    page: str  # mini-program page, str.format over the payload
    fields: tuple[Field, ...]
    # Rows queued before a payload key was added still render (the inbox renders stored
    # payloads): (key, its value computed from such an older payload).
    older: tuple[tuple[str, Callable[[dict], object]], ...] = ()

    def required(self) -> set[str]:
        return {f.source for f in self.fields} | _placeholders(self.text) | _placeholders(self.page)


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"{(\w+)}", text))


# Field sets several templates share: a record's status change, a task at a place with its
# deadline, a deadline reminder.
STATUS_FIELDS = (Field("thing1", "title"), Field("phrase2", "status"), Field("time3", "at"),
                 Field("thing4", "note"))
TASK_FIELDS = (Field("thing1", "title"), Field("thing2", "place"), Field("time3", "deadline"),
               Field("thing4", "note"))
DEADLINE_FIELDS = (Field("thing1", "title"), Field("time2", "deadline"), Field("thing3", "note"))

TEMPLATES: dict[str, Template] = {t.key: t for t in (
    Template("work_digest", "今日待办提醒", "您有 {open} 件待处理事项，其中 {overdue} 件已超时。{summary}",
             "pages/work/index",
             (Field("thing1", "summary"), Field("number2", "open"), Field("number3", "overdue"),
              Field("time4", "at"))),
    # `whose` is 您上报的 for the reporter, 您关注的 for a follower.
    Template("incident_update", "随手拍进展", "{whose}“{title}”{status}。{note}",
             "pages/incident/detail?id={incident_id}",
             STATUS_FIELDS,
             older=(("whose", lambda payload: "您关注的"),)),
    Template("incident_task", "新的随手拍任务", "{title}（{place}），请在 {deadline} 前处理。{note}",
             "pages/incident/detail?id={incident_id}",
             TASK_FIELDS),
    Template("incident_reopened", "随手拍被重新打开",
             "“{title}”（{place}）被居民重新打开，原定办结期限 {deadline}。{note}",
             "pages/incident/detail?id={incident_id}",
             TASK_FIELDS),
    # To those who held an incident and no longer do: they cannot open it any more, so the
    # page is their work list.
    Template("incident_transferred", "随手拍已转交", "“{title}”已转交{to}处理，您无需再跟进。{note}",
             "pages/work/index",
             (Field("thing1", "title"), Field("thing2", "to"), Field("time3", "at"),
              Field("thing4", "note"))),
    Template("task_reminder", "任务提醒", "“{title}”的期限为 {deadline}，{note}",
             "pages/incident/detail?id={incident_id}",
             DEADLINE_FIELDS,
             older=(("incident_id", lambda payload: payload["ref_id"]),)),
    Template("notice_published", "本周公示已发布", "{compound}发布了{title}，请查看。",
             "pages/notice/detail?id={notice_id}",
             (Field("thing1", "title"), Field("thing2", "compound"), Field("date3", "date"))),
    Template("redemption_ready", "兑换成功，请按时领取",
             "您兑换的{reward}×{quantity}请于 {deadline} 前到{place}领取，取货码 {code}。",
             "pages/points/redemption?id={redemption_id}",
             (Field("thing1", "reward"), Field("character_string2", "code"),
              Field("time3", "deadline"), Field("thing4", "place"))),
    Template("redemption_expired", "兑换已过期",
             "您兑换的{reward}未在期限内领取，已退回 {points} 积分。", "pages/points/index",
             (Field("thing1", "reward"), Field("number2", "points"), Field("time3", "at"))),
    Template("membership_result", "住址认证结果", "您申请认证的住址 {address}{result}：{note}",
             "pages/me/household",
             (Field("thing1", "address"), Field("phrase2", "result"), Field("time3", "at"),
              Field("thing4", "note"))),
    Template("points_adjusted", "积分变动",
             "社区工作人员为您调整积分 {amount}，原因：{reason}。当前余额 {balance}。",
             "pages/points/index",
             (Field("character_string1", "amount"), Field("thing2", "reason"),
              Field("number3", "balance"), Field("time4", "at"))),
    # Points earned by a rule (app.services.points.ledger.award); `reason` is the ledger
    # entry's description, e.g. 随手拍问题经确认：3号楼路灯不亮.
    Template("points_earned", "积分到账", "{reason}，获得 {points} 积分，当前余额 {balance} 积分。",
             "pages/points/index",
             (Field("thing1", "reason"), Field("number2", "points"), Field("number3", "balance"),
              Field("time4", "at"))),
    # 微心愿 (app.services.wishes.timeline): a wish's title is at most 20 characters, so it
    # fits a `thing` field whole; statuses are WishStatus labels (a `phrase`, ≤ 5).
    Template("wish_update", "微心愿进展", "您的微心愿“{title}”{status}。{note}",
             "pages/wish/detail?id={wish_id}",
             STATUS_FIELDS),
    Template("wish_claim_update", "认领的微心愿", "您认领的微心愿“{title}”{status}。{note}",
             "pages/wish/detail?id={wish_id}",
             STATUS_FIELDS),
    Template("wish_claim_reminder", "认领即将到期",
             "您认领的微心愿“{title}”请于 {deadline} 前完成。{note}",
             "pages/wish/detail?id={wish_id}",
             DEADLINE_FIELDS),
    Template("wish_attention", "微心愿待处理", "{place}的微心愿“{title}”{event}。{note}",
             "pages/wish/detail?id={wish_id}",
             (Field("thing1", "title"), Field("thing2", "place"), Field("phrase3", "event"),
              Field("time4", "at"))),
    # 双报到 and service hours (app.services.party): a registration's result, the October /
    # December pace reminder.
    Template("party_update", "党员服务", "{title}：{note}", "pages/party/index",
             (Field("thing1", "title"), Field("thing2", "note"), Field("time3", "at"))),
    # The official-account bot's answer sent later (app.wechat.bot.deliver): a
    # customer-service message with the whole text; outside WeChat's 48 hours a template
    # message with its start, then the inbox.
    Template("bot_reply", "社区服务号回复", "{text}", "pages/index/index",
             (Field("thing1", "text"), Field("time2", "at"))),
    # To a community's staff when the party-checkouts job closed logs nobody checked out of:
    # one message a run, however many logs (app.services.party.hours).
    Template("party_logs_flagged", "服务记录待核实",
             "{count} 条服务记录未签退，已在岗位结束时自动关闭，请核实后计入时长。",
             "pages/party/logs?community_id={community_id}&flagged=1",
             (Field("thing1", "title"), Field("number2", "count"), Field("time3", "at"))),
    # 六必访 and 三个公开 (app.services.visits.escalation, app.services.notices.jobs): an
    # overdue visit climbed to the secretary; a weekly notice drafted or still unpublished.
    Template("visit_overdue", "走访已逾期", "{place}的走访已逾期（应于 {deadline} 前走访）。{note}",
             "pages/visits/due",
             DEADLINE_FIELDS + (Field("thing4", "place"),)),
    Template("notice_task", "三个公开", "{compound}{title}{note}",
             "pages/notice/edit?id={notice_id}",
             (Field("thing1", "title"), Field("thing2", "compound"), Field("thing3", "note"),
              Field("time4", "at"))),
    # Canteen bookings (app.services.canteen.booking): a meal cancelled with every booking,
    # or one booking cancelled by the canteen's staff; `refund` is 已退回 N 积分。 or empty.
    Template("canteen_meal_cancelled", "餐次已取消", "您预订的{title}已取消：{reason}。{refund}",
             "pages/canteen/booking?id={booking_id}",
             (Field("thing1", "title"), Field("thing2", "reason"), Field("time3", "at"))),
    Template("canteen_booking_cancelled", "订餐已被取消",
             "您预订的{title}已被食堂取消：{reason}。{refund}",
             "pages/canteen/booking?id={booking_id}",
             (Field("thing1", "title"), Field("thing2", "reason"), Field("time3", "at"))),
    # Canteen jobs and feedback (app.services.canteen.schedule, .noshows, .feedback): the
    # count at a meal's cutoff to its canteen staff; the pickup reminder (`whose` is 您预订的
    # or 您为王奶奶预订的, `how` 到…取餐 or 送餐上门); a no-show; the suspension it led to; a
    # staff reply in the feedback box.
    Template("canteen_meal_closed", "订餐已截止",
             "{title}已截止预订，共 {portions} 份（{bookings} 单），请按数备餐。",
             "pages/canteen/kitchen?meal_id={meal_id}",
             (Field("thing1", "title"), Field("number2", "portions"), Field("time3", "at"))),
    Template("canteen_pickup_reminder", "取餐提醒",
             "{whose}{title}将于 {starts_at} 开始{how}，取餐码 {code}。",
             "pages/canteen/booking?id={booking_id}",
             (Field("thing1", "title"), Field("time2", "starts_at"),
              Field("character_string3", "code"), Field("thing4", "how"))),
    Template("canteen_no_show", "未取餐记录", "{whose}{title}{status}。{note}",
             "pages/canteen/booking?id={booking_id}",
             STATUS_FIELDS),
    Template("canteen_suspended", "暂停自助订餐", "{reason}，自助订餐暂停至 {until}。{appeal}",
             "pages/canteen/index",
             (Field("thing1", "reason"), Field("time2", "until"), Field("thing3", "appeal"))),
    Template("canteen_suspension_lifted", "恢复自助订餐", "{note}，欢迎继续预订。",
             "pages/canteen/index",
             (Field("thing1", "note"), Field("time2", "at"))),
    # A big console export built by the console-exports job (app.services.excel.exports):
    # the link opens in the console, for the signed-in owner only.
    Template("export_ready", "导出文件已生成",
             "您导出的{what}（{rows} 行）已生成，请在电脑端管理后台下载：{link}",
             "pages/work/index",
             (Field("thing1", "what"), Field("number2", "rows"), Field("time3", "at"))),
    Template("canteen_feedback_reply", "食堂回复了您的意见", "{canteen}回复了您的意见：{reply}",
             "pages/canteen/feedback?id={feedback_id}",
             (Field("thing1", "canteen"), Field("thing2", "reply"), Field("time3", "at"))),
)}


def get(key: str) -> Template:
    try:
        return TEMPLATES[key]
    except KeyError:
        raise ValueError(f"unknown notification template {key!r}") from None


def check_payload(template: Template, payload: dict) -> None:
    """Raise ValueError at the caller for a payload the dispatcher or the inbox could not
    render (a missing key, a time that is not ISO 8601), not later while sending."""
    missing = template.required() - set(payload)
    if missing:
        raise ValueError(f"template {template.key!r} needs payload keys {sorted(missing)}")
    wechat_data(template, payload)
    inbox_text(template, payload)
    page(template, payload)


def fit(kind: str, value) -> str:
    """A payload value as WeChat accepts it for a field kind (truncation rules here)."""
    if kind in ("time", "date"):
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        moment = timeutil.local(moment)
        return moment.strftime("%Y年%m月%d日" if kind == "date" else "%Y年%m月%d日 %H:%M")
    text = " ".join(str(value).split())  # newlines and runs of spaces are refused too
    limit = LIMITS.get(kind)
    if limit is None or len(text) <= limit:
        return text
    if kind in ("thing", "name"):  # prose: keep the start, mark the cut
        return text[:limit - 1] + ELLIPSIS
    return text[:limit]


def _filled(template: Template, payload: dict) -> dict:
    missing = {key: value(payload) for key, value in template.older if key not in payload}
    return {**missing, **payload} if missing else payload


def wechat_data(template: Template, payload: dict) -> dict:
    payload = _filled(template, payload)
    return {f.name: {"value": fit(f.kind, payload[f.source])} for f in template.fields}


def inbox_text(template: Template, payload: dict) -> str:
    values = {k: fit("time", v) if k in _time_sources(template) else v
              for k, v in _filled(template, payload).items()}
    return template.text.format(**values)


def _time_sources(template: Template) -> set[str]:
    return {f.source for f in template.fields if f.kind in ("time", "date")}


def page(template: Template, payload: dict) -> str:
    return template.page.format(**_filled(template, payload))


def template_id(channel: str, key: str) -> str | None:
    """The WeChat template id for a key on a channel ("subscribe" or "template")."""
    setting = "WECHAT_SUBSCRIBE_TEMPLATES" if channel == "subscribe" else "WECHAT_MP_TEMPLATES"
    ids = current_app.config[setting]
    if ids is None:  # development and tests: the sandbox accepts any id
        return f"sandbox-{key}"
    return ids.get(key)
