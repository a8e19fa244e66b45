"""the wish wall's index (issue 12): ix_wishes_compound keys (compound_id, id, status)

Revision ID: 0105
Revises: 0100
Create Date: 2026-12-03 09:40:00.000000

The wall shows a compound's wishes in four statuses, newest first (app.services.wishes.
queries). Keyed (compound_id, status, id), the index gave no id order across the four
statuses, so PostgreSQL walked the primary key backwards and read about 1,000 wishes of
every compound to find the 21 of one (0.24 ms of the default wall's 0.44 ms server time on
the bench data, 200,000 wishes in 50 compounds). Keyed (compound_id, id, status) it reads
the compound's newest entries in order and checks the status in the index entry itself:
21 entries for the default wall, about 60 for the wall of one status (no heap visit for the
others). Same number of indexes, so the claim job's UPDATE writes no more.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0105'
down_revision = '0100'
branch_labels = None
depends_on = None

NAME = 'ix_wishes_compound'


def upgrade():
    op.drop_index(NAME, table_name='wishes')
    op.create_index(NAME, 'wishes', ['compound_id', 'id', 'status'], unique=False)


def downgrade():
    op.drop_index(NAME, table_name='wishes')
    op.create_index(NAME, 'wishes', ['compound_id', 'status', 'id'], unique=False)
