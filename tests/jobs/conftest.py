from __future__ import annotations

import pytest
import requests

from app.extensions import db
from app.models import SubscriptionCredit, User


@pytest.fixture
def make_user(ctx):
    """A user; `credits` subscribe credits per template key; `follower` of the official account."""
    def make(openid: str, credits: dict | None = None, follower: bool = False) -> User:
        user = User(openid=openid, mp_openid=f"mp-{openid}" if follower else None,
                    mp_following=follower)
        db.session.add(user)
        db.session.flush()
        for key, count in (credits or {}).items():
            db.session.add(SubscriptionCredit(user_id=user.id, template_key=key,
                                              remaining=count, accepted_total=count))
        db.session.commit()
        return user
    return make


@pytest.fixture
def sent(sandbox_url):
    """Messages the sandbox accepted, optionally of one kind."""
    def get(kind: str | None = None) -> list[dict]:
        params = {"kind": kind} if kind else {}
        return requests.get(sandbox_url + "sandbox/messages", params=params, timeout=5).json()["items"]
    return get
