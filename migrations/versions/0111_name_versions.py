"""the names' version (issue 11): a one-row counter that triggers bump when a shown name
may have changed

Revision ID: 0111
Revises: 0110
Create Date: 2026-12-03 14:20:00.000000

The incident lists showed each row's building, the reporter's building, the department,
the compound and the category by looking them up per row: at 1,000,000 incidents about
0.1 ms of the page query's 0.35 ms (PostgreSQL's own time, bench data). They now come from
a per-process cache (app.services.names), which the list's statement validates by reading
`name_versions.version` in the same snapshot.

The triggers bump the counter on every change that could make a cached name wrong, from
any writer: an UPDATE of a shown column (buildings, compounds, departments: `name`;
incident_categories: `code`, `name`), a DELETE, and on PostgreSQL a TRUNCATE (the test
suite's clean-up, which also restarts the ids). An INSERT needs none: a new id is a cache
miss. PostgreSQL fires one statement-level trigger per statement; SQLite, which has no
statement triggers, one per row.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0111'
down_revision = '0110'
branch_labels = None
depends_on = None

SHOWN = {'buildings': ('name',), 'compounds': ('name',), 'departments': ('name',),
         'incident_categories': ('code', 'name')}
BUMP = 'UPDATE name_versions SET version = version + 1'


def upgrade():
    op.create_table('name_versions',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('version', sa.BigInteger(), nullable=False),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_name_versions')))
    op.execute("INSERT INTO name_versions (id, version) VALUES (1, 1)")
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"""CREATE FUNCTION bump_name_version() RETURNS trigger LANGUAGE plpgsql AS
                       $$ BEGIN {BUMP}; RETURN NULL; END $$""")
        for table, columns in SHOWN.items():
            op.execute(f"""CREATE TRIGGER {table}_names AFTER UPDATE OF {', '.join(columns)}
                           OR DELETE OR TRUNCATE ON {table}
                           FOR EACH STATEMENT EXECUTE FUNCTION bump_name_version()""")
        return
    for table, columns in SHOWN.items():
        op.execute(f"""CREATE TRIGGER {table}_names_update AFTER UPDATE OF {', '.join(columns)}
                       ON {table} BEGIN {BUMP}; END""")
        op.execute(f"CREATE TRIGGER {table}_names_delete AFTER DELETE ON {table} "
                   f"BEGIN {BUMP}; END")


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for table in SHOWN:
            op.execute(f"DROP TRIGGER {table}_names ON {table}")
        op.execute("DROP FUNCTION bump_name_version()")
    else:
        for table in SHOWN:
            op.execute(f"DROP TRIGGER {table}_names_update")
            op.execute(f"DROP TRIGGER {table}_names_delete")
    op.drop_table('name_versions')
