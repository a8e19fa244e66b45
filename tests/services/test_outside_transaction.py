"""`outside_transaction()` (app/database.py): end a read-only transaction before calling out,
refuse when the transaction has written or holds unflushed changes."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.database import outside_transaction
from app.extensions import db
from app.models import User


def count_users() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(User))


def in_transaction() -> bool:
    return db.session().in_transaction()


def saved_user(openid: str = "someone") -> User:
    user = User(openid=openid)
    db.session.add(user)
    db.session.commit()
    return user


def test_after_reads_it_ends_the_transaction(ctx):
    assert count_users() == 0
    assert in_transaction()
    outside_transaction()
    assert not in_transaction()


def test_it_expires_what_was_loaded(ctx):
    user = saved_user()
    assert user.openid == "someone"  # loaded again after the commit
    assert not sa.inspect(user).expired
    outside_transaction()
    assert sa.inspect(user).expired  # the caller reads (and locks) again afterwards
    assert user.openid == "someone"


def test_an_unflushed_new_object_is_refused_and_stays_pending(ctx):
    count_users()
    user = User(openid="pending")
    db.session.add(user)
    with pytest.raises(RuntimeError, match="pending writes"):
        outside_transaction()
    assert user in db.session.new
    assert sa.inspect(user).pending
    assert in_transaction()
    db.session.rollback()
    assert count_users() == 0


def test_an_unflushed_change_is_refused(ctx):
    user = saved_user()
    user.nickname = "改了名"
    with pytest.raises(RuntimeError, match="pending writes"):
        outside_transaction()
    assert user in db.session.dirty
    db.session.rollback()
    assert db.session.scalar(sa.select(User.nickname)) == "微信用户"


def test_an_unflushed_delete_is_refused(ctx):
    user = saved_user()
    db.session.delete(user)
    with pytest.raises(RuntimeError, match="pending writes"):
        outside_transaction()
    db.session.rollback()
    assert count_users() == 1


def test_a_flushed_write_is_refused_and_not_committed(ctx):
    db.session.add(User(openid="flushed"))
    db.session.flush()
    assert not db.session.new  # nothing pending in the session: only the flag tells
    with pytest.raises(RuntimeError, match="pending writes"):
        outside_transaction()
    assert in_transaction()
    db.session.rollback()
    assert count_users() == 0  # the refusal committed nothing


@pytest.mark.parametrize("statement", [
    sa.insert(User).values(openid="by-statement", nickname="x", mp_following=False),
    sa.update(User).values(nickname="by-statement"),
    sa.delete(User),
], ids=["insert", "update", "delete"])
def test_a_statement_write_is_refused_and_not_committed(ctx, statement):
    # An INSERT/UPDATE/DELETE run as a statement (as notify() and the stock update do)
    # writes without a flush; it is as much a write as a flushed object.
    saved_user()
    db.session.execute(statement)
    with pytest.raises(RuntimeError, match="pending writes"):
        outside_transaction()
    db.session.rollback()
    assert db.session.execute(sa.select(User.openid, User.nickname)).all() == [("someone", "微信用户")]


def test_after_a_commit_a_fresh_read_may_go_outside_again(ctx):
    db.session.add(User(openid="committed"))
    db.session.flush()
    db.session.commit()
    assert count_users() == 1  # a fresh transaction that only read
    outside_transaction()
    assert not in_transaction()
    assert count_users() == 1


def test_after_a_rollback_of_writes_it_works_again(ctx):
    db.session.add(User(openid="undone"))
    db.session.flush()
    db.session.rollback()
    count_users()
    outside_transaction()
    assert not in_transaction()


def test_a_rolled_back_savepoint_still_counts_as_written(ctx):
    count_users()
    savepoint = db.session.begin_nested()
    db.session.add(User(openid="in-a-savepoint"))
    db.session.flush()
    savepoint.rollback()
    assert count_users() == 0  # the savepoint's write is gone ...
    # ... but the code is conservative: the written flag is cleared only when the
    # outermost transaction ends, so a flush inside a since-rolled-back savepoint still
    # refuses. (Committing here would be harmless, refusing is the safe side.)
    with pytest.raises(RuntimeError, match="pending writes"):
        outside_transaction()
    db.session.rollback()
    count_users()
    outside_transaction()  # the outer rollback cleared it


def test_a_savepoint_that_only_read_does_not_count(ctx):
    with db.session.begin_nested():
        count_users()
    outside_transaction()
    assert not in_transaction()


def test_a_session_passed_in_is_the_one_checked_and_committed(ctx):
    db.session.add(User(openid="pending-in-the-default-session"))
    with sa.orm.Session(db.engine) as other:
        other.scalar(sa.select(sa.func.count()).select_from(User))
        assert other.in_transaction()
        outside_transaction(other)  # the default session's pending object is not its concern
        assert not other.in_transaction()
        other.add(User(openid="pending-in-the-other-session"))
        with pytest.raises(RuntimeError, match="pending writes"):
            outside_transaction(other)
        other.rollback()
    with pytest.raises(RuntimeError, match="pending writes"):
        outside_transaction()  # the default session still holds its own
    db.session.rollback()
