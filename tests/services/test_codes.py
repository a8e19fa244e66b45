"""Six-digit pickup codes (app/services/codes.py): random, checked, and unique among open
redemptions through the partial unique index `uq_redemptions_open_code`, with collisions
retried inside savepoints."""
from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import pytest
import sqlalchemy as sa

from app.errors import ServiceUnavailable, ValidationFailed
from app.extensions import db
from app.models import Community, Redemption, RedemptionStatus, Reward, Street, User
from app.models.base import utcnow
from app.services import codes


def shop() -> tuple[Reward, User]:
    community = Community(street=Street(name="测试街道"), name="测试社区")
    reward = Reward(community=community, name="洗衣液", cost=10, stock=100, pickup_place="社区服务站")
    user = User(openid="redeemer")
    db.session.add_all([reward, user])
    db.session.commit()
    return reward, user


def fields(reward: Reward, user: User, status=RedemptionStatus.PENDING) -> dict:
    return {"reward_id": reward.id, "user_id": user.id, "quantity": 1, "points": 10,
            "status": status, "expires_at": utcnow() + timedelta(days=7)}


def redemption(reward: Reward, user: User, code: str, status=RedemptionStatus.PENDING) -> Redemption:
    row = Redemption(pickup_code=code, **fields(reward, user, status))
    db.session.add(row)
    db.session.commit()
    return row


def drawing(monkeypatch, *draws: str) -> list[str]:
    """Make codes.new_code return `draws` in turn (the last one forever); returns the log."""
    given: list[str] = []

    def fake() -> str:
        code = draws[min(len(given), len(draws) - 1)]
        given.append(code)
        return code

    monkeypatch.setattr(codes, "new_code", fake)
    return given


def test_new_code_is_six_random_digits():
    draws = [codes.new_code() for _ in range(2000)]
    assert all(len(c) == 6 and c.isascii() and c.isdigit() for c in draws)
    # 2000 draws from a million: about 2 repeats are expected, 20 would mean a tiny space.
    assert len(set(draws)) >= 1980
    values = [int(c) for c in draws]
    # Not a counter: consecutive draws are almost never neighbours ...
    assert sum(1 for a, b in pairwise(values) if b - a == 1) <= 2
    # ... and they cover the whole range, leading zeros included (kept as digits).
    assert min(values) < 50_000 and max(values) > 950_000
    assert any(c.startswith("0") for c in draws)


@pytest.mark.parametrize("code", ["012345", "000000", "999999"])
def test_check_accepts_six_digits(code):
    assert codes.check(code) == code


@pytest.mark.parametrize("code", [
    "12345", "1234567", "12a456", "", " 12345", "123 456", "-12345",
    "123456\n",  # `$` alone would let a trailing newline through
    "１２３４５６",  # full-width digits are digits to `\d`, not to a pickup code
    "١٢٣٤٥٦",  # Arabic-Indic digits, likewise
])
def test_check_refuses_anything_else(code):
    with pytest.raises(ValidationFailed) as refused:
        codes.check(code)
    assert refused.value.status == 422
    assert refused.value.code == "invalid_pickup_code"
    assert "code" in refused.value.errors


def test_a_collision_with_an_open_code_is_retried(ctx, monkeypatch):
    reward, user = shop()
    taken = redemption(reward, user, "111111")
    given = drawing(monkeypatch, "111111", "222222")
    row = codes.insert_with_code(Redemption, **fields(reward, user))
    assert given == ["111111", "222222"]
    assert row.pickup_code == "222222"
    assert row.id is not None and row.id != taken.id  # flushed
    db.session.commit()
    stored = db.session.execute(sa.select(Redemption.id, Redemption.pickup_code)
                                .order_by(Redemption.id)).all()
    assert [tuple(r) for r in stored] == [(taken.id, "111111"), (row.id, "222222")]


def test_a_closed_redemptions_code_may_be_reused(ctx, monkeypatch):
    reward, user = shop()
    closed = redemption(reward, user, "333333", status=RedemptionStatus.FULFILLED)
    given = drawing(monkeypatch, "333333")
    row = codes.insert_with_code(Redemption, **fields(reward, user))
    db.session.commit()
    assert given == ["333333"]  # no retry: the index covers open redemptions only
    assert row.pickup_code == closed.pickup_code == "333333"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Redemption)
                             .where(Redemption.pickup_code == "333333")) == 2


def test_the_column_may_be_named(ctx, monkeypatch):
    reward, user = shop()
    drawing(monkeypatch, "444444")
    values = fields(reward, user)
    row = codes.insert_with_code(Redemption, column="pickup_code", **values)
    assert row.pickup_code == "444444"
    assert row.status is RedemptionStatus.PENDING and row.user_id == user.id


def test_exhausted_attempts_answer_503_and_leave_the_session_usable(ctx, monkeypatch):
    reward, user = shop()
    taken = redemption(reward, user, "555555")
    # Earlier work of the same transaction, flushed but not committed: it must survive.
    earlier = User(openid="earlier-in-this-transaction")
    db.session.add(earlier)
    db.session.flush()
    given = drawing(monkeypatch, "555555")
    with pytest.raises(ServiceUnavailable) as exhausted:
        codes.insert_with_code(Redemption, **fields(reward, user))
    assert exhausted.value.status == 503
    assert exhausted.value.code == "pickup_code_exhausted"
    assert len(given) == codes.ATTEMPTS
    # Each failed insert was rolled back to its savepoint only: the session still works
    # and the transaction still holds the earlier insert.
    assert db.session().in_transaction()
    assert not db.session.new
    assert db.session.scalar(sa.select(User.id).where(User.openid == earlier.openid)) == earlier.id
    drawing(monkeypatch, "666666")
    row = codes.insert_with_code(Redemption, **fields(reward, user))
    db.session.commit()
    assert db.session.scalars(sa.select(Redemption.pickup_code).order_by(Redemption.id)).all() == [
        "555555", "666666"]
    assert db.session.get(Redemption, taken.id).pickup_code == "555555"
    assert row.pickup_code == "666666"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)
                             .where(User.openid == "earlier-in-this-transaction")) == 1
