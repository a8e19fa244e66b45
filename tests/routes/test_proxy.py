"""Behind a trusted reverse proxy (`TRUSTED_PROXIES`), image URLs use the scheme and host the
client used; without it, forwarded headers are ignored (anyone could send them)."""
from __future__ import annotations

import io
import os

from app import create_app
from tests.helpers import bearer, jpeg, login

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "linli.example.cn"}


def upload_url(client) -> str:
    headers = {**bearer(login(client, "proxied")), **FORWARDED}
    response = client.post("/api/v1/uploads", headers=headers,
                           data={"file": (io.BytesIO(jpeg()), "p.jpg")},
                           content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    return response.get_json()["url"]


def test_forwarded_headers_are_ignored_without_a_trusted_proxy(client):
    assert upload_url(client).startswith("http://localhost/")


def test_a_trusted_proxy_gives_https_urls(app, monkeypatch):
    monkeypatch.setitem(os.environ, "TRUSTED_PROXIES", "1")
    behind = create_app()
    with behind.test_client() as client:
        assert upload_url(client).startswith("https://linli.example.cn/")
