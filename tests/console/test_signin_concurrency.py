"""Racing for one nonce over real HTTP in threads: approvals from two phones and polls
from many tabs of the browser that asked for it. Exactly one of each wins (row lock on
PostgreSQL, conditional UPDATEs everywhere; SQLite's write lock serialises them too)."""
from __future__ import annotations

import re

import requests
import sqlalchemy as sa

from tests.console.conftest import csrf_in
from tests.helpers import in_app, run_together, serving

NONCE = re.compile(r'data-nonce="([^"]+)"')


def test_one_approval_and_one_sign_in_per_nonce(app, people):
    from app.extensions import db
    from app.models import ConsoleSession

    with serving(app) as url:
        browser = requests.Session()
        csrf = csrf_in(browser.get(url + "/console/login", timeout=10).text)
        qr = browser.post(url + "/console/login/qr", headers={"X-CSRF-Token": csrf}, timeout=10)
        nonce = NONCE.search(qr.text).group(1)
        phones = [people["demo-staff"], people["demo-secretary"]] * 4
        approvals = run_together(8, lambda i: requests.post(
            url + "/api/v1/console/approve", json={"nonce": nonce}, headers=phones[i],
            timeout=30))
        codes = sorted(r.status_code for r in approvals)
        assert codes == [200] + [409] * 7, [r.text for r in approvals]
        assert {r.json()["code"] for r in approvals if r.status_code == 409} \
            == {"console_nonce_used"}

        cookies = browser.cookies.get_dict()
        polls = run_together(8, lambda i: requests.post(
            url + "/console/login/poll", data={"nonce": nonce}, cookies=cookies,
            headers={"X-CSRF-Token": csrf, "HX-Request": "true"}, timeout=30))
        won = [r for r in polls if r.status_code == 204]
        assert len(won) == 1, [(r.status_code, r.text[:80]) for r in polls]
        assert all(r.status_code == 200 and "已使用" in r.text for r in polls if r is not won[0])
    assert in_app(app, lambda: db.session.scalar(
        sa.select(sa.func.count()).select_from(ConsoleSession))) == 1
