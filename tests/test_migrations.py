"""One migration head, upgrading from empty gives exactly the models' schema, and a data
migration keeps the rows already there."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from app.extensions import db
from app.models.base import render_item
from app.services.demo.seed import seed_demo
from tests.fixtures.wishes import keys_kept


def pending_diff():
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "render_item": render_item})
        return compare_metadata(context, db.metadata)


def test_single_head(app, ctx):
    config = app.extensions["migrate"].migrate.get_config(app.extensions["migrate"].directory)
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_upgrade_from_empty_matches_models(app, ctx):
    # The session's database was built by `upgrade()` from empty (see conftest).
    assert pending_diff() == []


def test_downgrade_to_base_and_up_again(app, ctx):
    downgrade(revision="base")
    assert db.inspect(db.engine).get_table_names() in ([], ["alembic_version"])
    upgrade()
    assert pending_diff() == []


def test_0113_copies_the_keys_of_the_wishes_already_there(app, ctx):
    """Upgrading a database that has wishes gives each its wish_keys row, equal to its own
    columns, so the lists that search the copy miss none of them."""
    seed_demo()
    wishes = keys_kept()[0]
    db.session.remove()
    downgrade(revision="0112")
    assert "wish_keys" not in db.inspect(db.engine).get_table_names()
    upgrade()
    assert wishes > 0 and keys_kept() == (wishes,) * 3
    db.session.remove()  # its transaction would hold SQLite's write lock
    assert pending_diff() == []
