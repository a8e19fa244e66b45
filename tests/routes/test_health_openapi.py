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


ERROR_REF = {"$ref": "#/components/schemas/Error"}


def _operations(spec):
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method != "parameters":
                yield path, method.upper(), op


def _error_schema(spec, response: dict) -> dict:
    if "$ref" in response:  # a shared response, e.g. components/responses/DEFAULT_ERROR
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response["content"]["application/json"]["schema"]


def test_openapi_every_login_required_operation_documents_401(client):
    spec = client.get("/api/openapi.json").get_json()
    guarded = [(path, method, op) for path, method, op in _operations(spec)
               if path.startswith("/api/v1/") and op.get("security") == [{"bearerAuth": []}]]
    assert len(guarded) > 20
    for path, method, op in guarded:
        answer = op["responses"].get("401")
        assert answer is not None, (method, path)
        assert _error_schema(spec, answer) == ERROR_REF, (method, path)
        assert {"missing_token", "invalid_token"} <= set(answer["x-codes"]), (method, path)
    login = spec["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert login["401"]["x-codes"] == ["invalid_login_code"]


def test_openapi_every_operation_with_arguments_documents_422_and_bodies_400(client):
    spec = client.get("/api/openapi.json").get_json()
    with_arguments = 0
    for path, method, op in _operations(spec):
        if "requestBody" not in op and not any(p["in"] == "query" for p in op.get("parameters", [])):
            continue
        with_arguments += 1
        answer = op["responses"].get("422")
        assert answer is not None, (method, path)
        assert _error_schema(spec, answer) == ERROR_REF, (method, path)
        assert "validation_error" in answer["x-codes"], (method, path)
        if "application/json" in op.get("requestBody", {}).get("content", {}):
            assert op["responses"]["400"]["x-codes"] == ["malformed_json"], (method, path)
    assert with_arguments > 20


def test_openapi_error_responses_name_their_codes(client):
    spec = client.get("/api/openapi.json").get_json()
    for path, method, op in _operations(spec):
        for status, answer in op["responses"].items():
            if not path.startswith("/api/") or status == "default" or int(status) < 400:
                continue
            assert _error_schema(spec, answer) == ERROR_REF, (method, path, status)
            assert answer["x-codes"], (method, path, status)
            for code in answer["x-codes"]:
                assert f"`{code}`" in answer["description"], (method, path, status, code)
    transition = spec["paths"]["/api/v1/incidents/{incident_id}/transitions"]["post"]["responses"]
    assert {"invalid_transition", "already_rated"} <= set(transition["409"]["x-codes"])
    assert transition["404"]["x-codes"][0] == "incident_not_found"
    assert "forbidden" in transition["403"]["x-codes"]
    redeem = spec["paths"]["/api/v1/rewards/{reward_id}/redeem"]["post"]["responses"]
    # @idempotent adds its own answers to the route's.
    assert {"out_of_stock", "idempotency_in_progress"} <= set(redeem["409"]["x-codes"])
    assert "idempotency_key_reused" in redeem["422"]["x-codes"]


def test_openapi_json_is_utf8_without_unicode_escapes(client):
    response = client.get("/api/openapi.json")
    assert b"\\u" not in response.data
    assert "随手拍".encode() in response.data
    assert response.get_json()["info"]["title"] == "Linli 邻里 API"


def test_docs_page_loads_swagger_ui_from_the_app(client):
    page = client.get("/api/docs").get_data(as_text=True)
    assert "//" not in page.replace("<!DOCTYPE", "")  # no absolute URL: no CDN
    for asset in ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"):
        assert f'"docs/static/{asset}"' in page
        with client.get(f"/api/docs/static/{asset}") as response:  # a file: close it
            assert response.status_code == 200 and len(response.data) > 1000, asset
    assert client.get("/api/docs/static/../../../config/__init__.py").status_code == 404
