"""The shared state-machine contract (app/services/transitions.py): 403 for who may not, 409
`invalid_transition` naming the current state for a wrong state, the rule otherwise; and the
incident schema's actions derived from the incident flow's table."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from app.errors import Conflict, Forbidden
from app.models import IncidentStatus
from app.schemas.incidents import ACTIONS, TransitionSchema
from app.services import transitions
from app.services.incidents import flow
from app.services.transitions import Rule

S = IncidentStatus


def is_boss(user, _record) -> bool:
    return user == "boss"


# Deliberately not in alphabetical order: actions() must keep the table's order.
TABLE = {
    "start": Rule((S.ACCEPTED,), is_boss),
    "accept": Rule((S.DISPATCHED, S.ESCALATED), is_boss, records=False),
    "comment": Rule(tuple(S), lambda user, record: True, checks_text=True),
}


def record(status: IncidentStatus) -> SimpleNamespace:
    return SimpleNamespace(status=status)


def test_the_rule_is_returned_when_user_and_state_fit():
    assert transitions.check(TABLE, "accept", "boss", record(S.DISPATCHED), "随手拍") is TABLE["accept"]
    assert transitions.check(TABLE, "accept", "boss", record(S.ESCALATED), "随手拍") is TABLE["accept"]
    assert transitions.check(TABLE, "comment", "anyone", record(S.CLOSED), "随手拍") is TABLE["comment"]


def test_who_may_not_is_forbidden():
    with pytest.raises(Forbidden) as refused:
        transitions.check(TABLE, "accept", "intern", record(S.DISPATCHED), "随手拍")
    assert refused.value.status == 403
    assert refused.value.code == "forbidden"
    assert "随手拍" in refused.value.message  # the noun names the record


def test_who_is_asked_with_the_user_and_the_record():
    seen = []
    table = {"poke": Rule((S.SUBMITTED,), lambda user, rec: seen.append((user, rec)) or True)}
    target = record(S.SUBMITTED)
    transitions.check(table, "poke", "someone", target, "心愿")
    assert seen == [("someone", target)]


def test_who_is_checked_before_the_state():
    # Wrong user and wrong state: the user learns nothing about the state.
    with pytest.raises(Forbidden):
        transitions.check(TABLE, "start", "intern", record(S.CLOSED), "随手拍")


@pytest.mark.parametrize("status", [S.SUBMITTED, S.ACCEPTED, S.RESOLVED, S.CLOSED])
def test_a_wrong_state_is_a_conflict_naming_it(status):
    with pytest.raises(Conflict) as refused:
        transitions.check(TABLE, "accept", "boss", record(status), "随手拍")
    error = refused.value
    assert error.status == 409
    assert error.code == "invalid_transition"
    assert status.label in error.message  # the current state, in Chinese
    assert error.errors == {"status": status.value}


def test_rule_flags_default_to_recording_without_a_text_check():
    rule = Rule((S.SUBMITTED,), is_boss)
    assert rule.records is True
    assert rule.checks_text is False
    assert (TABLE["accept"].records, TABLE["accept"].checks_text) == (False, False)
    assert (TABLE["comment"].records, TABLE["comment"].checks_text) == (True, True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.records = False  # a shared table cannot be changed by one caller


def test_actions_are_the_tables_keys_in_order():
    assert transitions.actions(TABLE) == ["start", "accept", "comment"]
    assert transitions.actions({}) == []


def test_the_incident_schema_offers_exactly_the_flows_actions():
    assert ACTIONS == list(flow.TRANSITIONS)
    assert "accept" in ACTIONS and "comment" in ACTIONS
    (one_of,) = TransitionSchema().fields["action"].validators
    assert list(one_of.choices) == list(flow.TRANSITIONS)
    # Every action of the table has an applier.
    assert set(flow.TRANSITIONS) <= set(flow.APPLY)


def test_every_incident_rule_starts_from_incident_states():
    for action, rule in flow.TRANSITIONS.items():
        assert rule.sources, action
        assert all(isinstance(s, IncidentStatus) for s in rule.sources), action


def login(client, openid: str) -> dict:
    response = client.post("/api/v1/auth/login", json={"code": f"sandbox:{openid}"})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def test_an_unknown_action_is_refused_by_the_schema(client):
    headers = login(client, "someone")
    response = client.post("/api/v1/incidents/1/transitions", headers=headers,
                           json={"action": "fly"})
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["code"] == "validation_error"
    assert set(body) == {"code", "message", "errors"}
    assert "action" in body["errors"]["json"]
    # A known action reaches the service, which does not find incident 1: the 422 above
    # came from the schema, not from the missing incident.
    known = client.post("/api/v1/incidents/1/transitions", headers=headers,
                        json={"action": "accept"})
    assert known.status_code == 404, known.get_json()
    assert known.get_json()["code"] == "incident_not_found"


def test_the_transition_route_needs_a_login(client):
    response = client.post("/api/v1/incidents/1/transitions", json={"action": "fly"})
    assert response.status_code == 401
    assert response.get_json()["code"] == "missing_token"
