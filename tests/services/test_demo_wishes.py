"""The demo's 微心愿 (app/services/demo/wishes.py): every state, timelines that end where
the wish is, nothing added twice, and no points beyond the demo's history."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import LedgerEntry, Role, User, Wish, WishEvent, WishStatus
from app.services.demo.seed import seed_demo
from app.services.wishes import access, queries
from tests.fixtures.wishes import keys_kept


def test_the_demo_has_wishes_in_every_state_once(ctx):
    first = seed_demo()
    assert first["wishes_added"] == len(db.session.scalars(sa.select(Wish.id)).all()) > 0
    wishes = db.session.scalars(sa.select(Wish).order_by(Wish.id)).all()
    assert {w.status for w in wishes} == set(WishStatus)
    for wish in wishes:
        last = db.session.scalars(sa.select(WishEvent).where(WishEvent.wish_id == wish.id)
                                  .order_by(WishEvent.id.desc())).first()
        assert last.to_status == wish.status.value, wish.title
        assert (wish.claimer_id is not None) == (wish.status in (
            WishStatus.CLAIMED, WishStatus.FULFILLED, WishStatus.COMPLETED)), wish.title
    on_behalf = [w for w in wishes if w.on_behalf]
    assert on_behalf and all(w.requester_id is None and w.consent_recorded for w in on_behalf)
    # The party member holds one claim now, and sees its contact.
    member = db.session.scalar(sa.select(User).where(User.openid == "demo-party-member"))
    [held] = [w for w in wishes if access.holds(member, w)]
    assert held.status is WishStatus.CLAIMED and access.sees_contact(member, held)
    # Completed demo wishes are the ones the points history counts: no entries of their own.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry).where(
        LedgerEntry.ref.like("wish:%"))) == 0
    assert seed_demo()["wishes_added"] == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Wish)) == len(wishes)
    assert keys_kept() == (len(wishes),) * 3  # each with its keys (WishKeys)


def test_a_page_sees_each_row_as_each_wish_is_seen(ctx):
    # `row_viewer` (a page's rows against grants read once) agrees with `is_party` and
    # `sees_contact` (one ORM wish) for every demo user and every demo wish.
    seed_demo()
    users = db.session.scalars(sa.select(User).order_by(User.id)).all()
    rows = {row["id"]: row for row in db.session.execute(queries._rows()).mappings()}
    wishes = db.session.scalars(sa.select(Wish)).all()
    roles = {grant.role for user in users for grant in user.grants}
    assert {Role.ADMIN, Role.GRID_WORKER, Role.SECRETARY, Role.STAFF} <= roles
    seen = set()
    for user in users:
        view = access.row_viewer(user)
        for wish in wishes:
            expected = (access.is_party(user, wish), access.sees_contact(user, wish))
            assert view(rows[wish.id]) == expected, (user.openid, wish.title)
            seen.add(expected)
    assert seen == {(False, False), (True, False), (True, True)}
