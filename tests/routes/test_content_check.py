"""WeChat content security unavailable (msg_sec_check errors or times out): a resident's
text is never called risky for it. A comment is refused with 503
`content_check_unavailable` (nothing recorded, the resident retries); a report is held for
review like text WeChat wants reviewed."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Incident, IncidentEvent, IncidentStatus, Notification
from app.wechat.security import check_text
from tests.routes.test_errors import assert_envelope

CHECK = "wxa/msg_sec_check"
FAULTS = [{"errcode": -1}, {"errcode": 45009}, {"delay": 1.5}]  # busy, limited, timed out
FAULT_IDS = ["system-busy", "rate-limited", "timeout"]


def comments(incident_id: int) -> list[str]:
    notes = list(db.session.scalars(sa.select(IncidentEvent.note).where(
        IncidentEvent.incident_id == incident_id, IncidentEvent.action == "comment")))
    db.session.commit()
    return notes


@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
def test_check_text_says_unavailable_not_review_when_wechat_cannot_answer(app, sandbox, fault):
    sandbox.fault(CHECK, **fault)
    with app.app_context():
        assert check_text("someone", "楼道灯坏了") == "unavailable"
        assert check_text("someone", "楼道灯坏了") == "pass"  # the fault was for one call


@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
def test_a_residents_comment_is_not_blamed_when_the_check_is_unavailable(
        client, report, act, people, sandbox, ctx, fault):
    incident_id = report()["id"]
    sandbox.fault(CHECK, **fault)
    response = client.post(f"/api/v1/incidents/{incident_id}/transitions",
                           headers=people["demo-resident"],
                           json={"action": "comment", "note": "还没修好，晚上很黑"})
    body = assert_envelope(response, 503, "content_check_unavailable")
    assert body["message"] == "内容安全检查暂时不可用，请稍后再试"
    assert comments(incident_id) == []  # nothing recorded, nothing published unchecked
    act("demo-resident", incident_id, "comment", note="还没修好，晚上很黑")  # the retry
    assert comments(incident_id) == ["还没修好，晚上很黑"]


def test_risky_comments_are_still_refused(client, report, people, ctx):
    incident_id = report()["id"]
    response = client.post(f"/api/v1/incidents/{incident_id}/transitions",
                           headers=people["demo-resident"],
                           json={"action": "comment", "note": "这里有违禁内容"})
    assert_envelope(response, 422, "content_risky")
    assert comments(incident_id) == []


@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
def test_a_report_is_held_for_review_when_the_check_is_unavailable(report, sandbox, ctx, fault):
    sandbox.fault(CHECK, **fault)
    held = report(description="楼下垃圾桶满了没人清运")
    assert held["status"]["code"] == "pending_review" and held["assignee"] is None
    incident = db.session.get(Incident, held["id"])
    assert incident.status is IncidentStatus.PENDING_REVIEW
    events = [(e.action, e.note) for e in db.session.scalars(
        sa.select(IncidentEvent).where(IncidentEvent.incident_id == held["id"])
        .order_by(IncidentEvent.id))]
    assert events == [("report", "楼下垃圾桶满了没人清运"),
                      ("hold_for_review", "内容安全检查暂不可用，待人工审核")]
    # Nobody was dispatched, so no grid worker was told.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.template_key == "incident_task")) == 0
