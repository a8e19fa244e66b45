"""民意反馈箱 moderation over HTTP: the staff of the canteen's community release a held note
or hide one (`POST /api/v1/canteen-feedback/{id}/moderation`); anyone else is refused
(the author 403, everyone who may not read the note 404), a bad action is 422 and a note in
the wrong state 409, each leaving the note as it was."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import CanteenFeedback
from tests.helpers import in_app
from tests.jobs.test_canteen_jobs import make_canteen
from tests.routes.test_canteen_feedback import other_community

HELD_TEXT = "这条待审一下"  # the sandbox answers "review" for it


@pytest.fixture
def canteen(app, world) -> int:
    return make_canteen(app, world["community"])


@pytest.fixture
def note(client, people, canteen):
    """`note(text=HELD_TEXT, who="demo-resident")` -> a new note's id (held by default)."""
    def post(text: str = HELD_TEXT, who: str = "demo-resident", **more) -> int:
        res = client.post(f"/api/v1/canteens/{canteen}/feedback", headers=people[who],
                          json={"rating": 2, "text": text, **more})
        assert res.status_code == 201, res.get_json()
        return res.get_json()["id"]
    return post


def status_of(app, feedback_id: int) -> str:
    return in_app(app, lambda: db.session.scalar(sa.select(CanteenFeedback.status).where(
        CanteenFeedback.id == feedback_id)).value)


def moderate(client, headers, feedback_id, body):
    return client.post(f"/api/v1/canteen-feedback/{feedback_id}/moderation", json=body,
                       headers=headers)


def test_the_staff_release_a_held_note_and_hide_another(client, app, people, canteen, note):
    held, other = note(), note(who="demo-resident-2")
    assert status_of(app, held) == "held"
    res = moderate(client, people["demo-canteen"], held, {"action": "release"})
    assert res.status_code == 200, res.get_json()
    body = res.get_json()
    assert body["id"] == held and body["status"] == {"code": "visible", "name": "已公开"}
    assert body["text"] == HELD_TEXT and body["author"]["nickname"] == "张阿姨"
    assert status_of(app, held) == "visible"
    hidden = moderate(client, people["demo-staff"], other, {"action": "hide"}).get_json()
    assert hidden["status"] == {"code": "hidden", "name": "已隐藏"}
    url = f"/api/v1/canteens/{canteen}/feedback"
    assert client.get(url + "?status=held", headers=people["demo-staff"]).get_json()["items"] == []
    [shown] = client.get(url + "?status=visible", headers=people["demo-staff"]).get_json()["items"]
    assert shown["id"] == held


def test_a_visible_note_may_be_hidden_and_leaves_the_average(client, app, people, canteen, note):
    visible = note(text="米饭太硬")
    assert status_of(app, visible) == "visible"
    ratings = f"/api/v1/canteens/{canteen}/ratings?months=1"
    [month] = client.get(ratings, headers=people["demo-staff"]).get_json()["items"]
    assert month["count"] == 1 and month["average"] == 2
    res = moderate(client, people["demo-admin"], visible, {"action": "hide"})
    assert res.status_code == 200 and res.get_json()["status"]["code"] == "hidden"
    assert client.get(ratings, headers=people["demo-staff"]).get_json()["items"] == [
        {"month": month["month"], "count": 0, "average": None}]


def test_only_the_staff_of_the_canteens_community_decide(client, app, people, note, auth):
    held = note()
    elsewhere = other_community(app)
    # The author may read their note but not decide it.
    res = moderate(client, people["demo-resident"], held, {"action": "release"})
    assert res.status_code == 403 and res.get_json()["code"] == "forbidden"
    # Who may not read it at all is told it does not exist: another community's staff too.
    for headers in (people["demo-resident-2"], people["demo-grid-worker"],
                    people["demo-secretary"], people["demo-department"], auth("other-staff"),
                    auth("fresh-wechat-user")):
        for action in ("release", "hide"):
            res = moderate(client, headers, held, {"action": action})
            assert res.status_code == 404, res.get_json()
            assert res.get_json()["code"] == "feedback_not_found"
            assert HELD_TEXT not in res.get_data(as_text=True)
    assert moderate(client, {}, held, {"action": "release"}).status_code == 401
    assert moderate(client, people["demo-staff"], 999999, {"action": "release"}
                    ).get_json()["code"] == "feedback_not_found"
    assert status_of(app, held) == "held"
    # Their own community's box is theirs to decide.
    theirs = client.post(f"/api/v1/canteens/{elsewhere['canteen']}/feedback",
                         headers=auth("other-resident"), json={"rating": 1, "text": HELD_TEXT})
    assert moderate(client, auth("other-staff"), theirs.get_json()["id"], {"action": "hide"}
                    ).get_json()["status"]["code"] == "hidden"
    assert moderate(client, people["demo-staff"], theirs.get_json()["id"], {"action": "release"}
                    ).status_code == 404


@pytest.mark.parametrize("body", [{}, {"action": "delete"}, {"action": ""}, {"action": 1},
                                  {"action": None}, {"action": "release", "extra": 1}])
def test_a_bad_action_is_refused_and_nothing_changes(client, app, people, note, body):
    held = note()
    res = moderate(client, people["demo-staff"], held, body)
    assert res.status_code == 422, res.get_json()
    assert res.get_json()["code"] == "validation_error"
    assert set(res.get_json()["errors"]["json"]) & {"action", "extra"}
    assert status_of(app, held) == "held"


def test_a_note_in_the_wrong_state_is_a_conflict(client, app, people, note):
    visible, hidden = note(text="很好吃"), note()
    moderate(client, people["demo-staff"], hidden, {"action": "hide"})
    for feedback_id, action, state in ((visible, "release", "visible"),
                                       (hidden, "release", "hidden"),
                                       (hidden, "hide", "hidden")):
        res = moderate(client, people["demo-canteen"], feedback_id, {"action": action})
        assert res.status_code == 409, res.get_json()
        body = res.get_json()
        assert body["code"] == "invalid_transition" and body["errors"]["status"] == state
        assert status_of(app, feedback_id) == state
