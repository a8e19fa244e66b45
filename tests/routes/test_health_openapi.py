"""`/healthz` and the OpenAPI document."""
from __future__ import annotations

import os

from app import create_app


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "db": "ok"}
    assert response.headers["X-Request-ID"]


def test_healthz_503_when_database_unreachable(app, monkeypatch):
    # A real, unreachable database: nothing listens on port 9.
    url = "postgresql://nobody@127.0.0.1:9/none?connect_timeout=1"
    monkeypatch.setitem(os.environ, "DATABASE_URL", url)
    broken = create_app()
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "degraded", "db": "unreachable"}


def test_openapi_lists_every_route_with_bearer_security(app, client):
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in spec["paths"].items()
                  for method in ops if method != "parameters"}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static",) or rule.endpoint.startswith(("api-docs", "openapi")):
            continue
        path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, (path, method)
    me = spec["paths"]["/api/v1/me"]["get"]
    assert me["security"] == [{"bearerAuth": []}]
    assert "security" not in spec["paths"]["/api/v1/auth/login"]["post"]
    error = spec["components"]["schemas"]["Error"]["properties"]
    assert set(error) == {"code", "message", "errors"}


def test_docs_page_is_served(client):
    response = client.get("/api/docs")
    assert response.status_code == 200 and b"swagger" in response.data.lower()
