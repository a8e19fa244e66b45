"""Query-string arguments parsed once per process (`JSONParser.parse`): the same answers as
parsing each time, bad ones refused every time, and a view never sees another request's
values."""
from __future__ import annotations

from marshmallow import Schema, fields

from app.routes import common
from app.routes.common import Blueprint
from app.schemas.incidents import IncidentListArgs


class Tags(Schema):
    tag = fields.List(fields.String(), load_default=list)
    limit = fields.Integer(load_default=20)


def parse(app, schema, query: str):
    with app.test_request_context(f"/x?{query}"):
        return Blueprint.ARGUMENTS_PARSER.parse(schema, location="query")


def test_a_repeated_query_string_gets_its_own_copy_of_the_same_values(app):
    schema = Tags()
    first = parse(app, schema, "tag=a&tag=b&limit=5")
    assert first == {"tag": ["a", "b"], "limit": 5}
    first["tag"].append("changed by a view")
    first["limit"] = 99
    assert parse(app, schema, "tag=a&tag=b&limit=5") == {"tag": ["a", "b"], "limit": 5}
    assert parse(app, schema, "tag=c") == {"tag": ["c"], "limit": 20}
    assert parse(app, IncidentListArgs(), "tag=c")["scope"] == "mine"  # per schema


def test_bad_arguments_are_refused_every_time_and_never_kept(client, people):
    parser = Blueprint.ARGUMENTS_PARSER
    for _ in range(2):
        bad = client.get("/api/v1/incidents?scope=everything", headers=people["demo-resident"])
        assert bad.status_code == 422
        assert bad.get_json()["errors"]["query"]["scope"], bad.get_json()
    assert not any(key[-1] == b"scope=everything" for key in parser._parsed)
    good = client.get("/api/v1/incidents?scope=mine&limit=2", headers=people["demo-resident"])
    assert good.status_code == 200 and good.get_json()["items"] == []
    assert any(key[-1] == b"scope=mine&limit=2" for key in parser._parsed)


def test_the_cache_stays_bounded_whatever_the_urls(app, monkeypatch):
    monkeypatch.setattr(common, "PARSED_CACHE_SIZE", 8)
    schema = Tags()
    for limit in range(30):
        assert parse(app, schema, f"limit={limit}")["limit"] == limit
    assert len(Blueprint.ARGUMENTS_PARSER._parsed) <= 8
