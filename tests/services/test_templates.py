"""WeChat field limits and truncation rules of the template registry."""
from __future__ import annotations

import pytest

from app.services.notifications import templates


def test_thing_is_cut_to_twenty_with_an_ellipsis():
    value = templates.fit("thing", "一二三四五六七八九十一二三四五六七八九十二十一")
    assert len(value) == 20 and value.endswith("…") and value.startswith("一二三")
    assert templates.fit("thing", "短文本") == "短文本"


@pytest.mark.parametrize("kind, limit", [("phrase", 5), ("character_string", 32),
                                         ("number", 32), ("car_number", 8), ("name", 10)])
def test_other_kinds_respect_their_limits(kind, limit):
    assert len(templates.fit(kind, "x" * 50)) == limit


def test_whitespace_is_folded_and_times_are_shanghai():
    assert templates.fit("thing", "楼道\n灯坏了  三天") == "楼道 灯坏了 三天"
    assert templates.fit("time", "2026-11-22T01:30:00+00:00") == "2026年11月22日 09:30"
    assert templates.fit("date", "2026-11-22T20:30:00+00:00") == "2026年11月23日"


def test_wechat_data_inbox_text_and_page():
    template = templates.get("incident_update")
    payload = {"title": "3号楼门口垃圾堆放已经超过一周了，味道很大", "status": "已解决",
               "at": "2026-11-22T02:00:00+00:00", "note": "已清运", "incident_id": 7}
    data = templates.wechat_data(template, payload)
    assert data == {"thing1": {"value": "3号楼门口垃圾堆放已经超过一周了，味道…"},
                    "phrase2": {"value": "已解决"}, "time3": {"value": "2026年11月22日 10:00"},
                    "thing4": {"value": "已清运"}}
    assert templates.page(template, payload) == "pages/incident/detail?id=7"
    assert "已解决" in templates.inbox_text(template, payload)


def test_missing_payload_and_unknown_template_are_programming_errors():
    with pytest.raises(ValueError, match="needs payload keys"):
        templates.check_payload(templates.get("work_digest"), {"open": 1})
    with pytest.raises(ValueError, match="unknown notification template"):
        templates.get("nope")


def test_a_payload_the_dispatcher_could_not_render_is_refused_when_queued():
    template = templates.get("work_digest")
    good = {"open": 2, "overdue": 0, "summary": "楼道灯坏了", "at": "2026-11-22T00:00:00+00:00"}
    templates.check_payload(template, good)
    with pytest.raises(ValueError):
        templates.check_payload(template, {**good, "at": "not-a-date"})
    with pytest.raises(ValueError, match="needs payload keys"):
        templates.check_payload(template, {k: v for k, v in good.items() if k != "open"})


def test_rows_queued_before_a_payload_key_existed_still_render():
    # The inbox renders stored payloads: reminders queued with `ref_id`, updates without
    # `whose`, still open the incident and read as before; new rows must carry the keys.
    reminder = templates.get("task_reminder")
    old = {"title": "环境卫生：楼道灯坏了", "deadline": "2026-11-22T01:30:00+00:00",
           "note": "即将到期，请及时处理", "ref_id": 7}
    assert templates.page(reminder, old) == "pages/incident/detail?id=7"
    assert "2026年11月22日 09:30" in templates.inbox_text(reminder, old)
    with pytest.raises(ValueError, match="incident_id"):
        templates.check_payload(reminder, old)
    update = templates.get("incident_update")
    before = {"title": "楼道灯坏了", "status": "已接单", "at": "2026-11-22T02:00:00+00:00",
              "note": "已有人接单处理", "incident_id": 7}
    assert templates.inbox_text(update, before).startswith("您关注的“楼道灯坏了”已接单")
    mine = templates.inbox_text(update, {**before, "whose": "您上报的"})
    assert mine == "您上报的“楼道灯坏了”已接单。已有人接单处理"
