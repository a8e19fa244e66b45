"""Errors the app answers before any console view runs (no route matched, a wrong method)
are pages on console paths, and stay the JSON envelope on the API."""
from __future__ import annotations


def test_unknown_console_path_and_wrong_method_are_pages(client):
    missing = client.get("/console/no-such-page")
    assert missing.status_code == 404
    assert missing.mimetype == "text/html" and "不存在" in missing.get_data(as_text=True)
    wrong = client.put("/console/login")
    assert wrong.status_code == 405 and wrong.mimetype == "text/html"
    assert "GET" in wrong.headers["Allow"]
    api = client.get("/api/v1/no-such-route")
    assert api.status_code == 404 and api.get_json()["code"] == "not_found"
