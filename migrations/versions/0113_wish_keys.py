"""the wishes' unchanging columns searched through wish_keys (issue 12): household, grid,
community, poster and posting time move their indexes to a side table

Revision ID: 0113
Revises: 0112
Create Date: 2026-12-04 02:30:00.000000

Every UPDATE of a wish that changes an indexed column (every change of state does) writes
a new entry into each index of `wishes`. The claim job's release of 50,000 claims wrote
eight: the primary key, the wall's, the due index, and five over columns that never change
once a wish is posted (household, grid, community, poster, created_at). Those five now
live on `wish_keys` (app.models.wishes.WishKeys), one row per wish written when it is
posted and never updated; the columns stay on `wishes` for everything that reads a wish.
In an A/B test on the bench data (one psql session, the same UPDATE of 25,000 claims in
id order), dropping the five indexes took the UPDATE from 0.81-0.85 s to 0.38-0.45 s.

Upgrading copies the keys of every existing wish, then builds the indexes.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0113'
down_revision = '0112'
branch_labels = None
depends_on = None

COLUMNS = ('household_id', 'grid_id', 'compound_id', 'community_id', 'poster_id', 'created_at')
MOVED = (('household', ['household_id'], ['household_id', 'status']),
         ('grid', ['grid_id', 'id'], ['grid_id', 'id']),
         ('community', ['community_id', 'id'], ['community_id', 'id']),
         ('poster', ['poster_id', 'id'], ['poster_id', 'id']),
         ('created', ['created_at'], ['created_at']))


def upgrade():
    op.create_table(
        'wish_keys',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('household_id', sa.Integer(), nullable=False),
        sa.Column('grid_id', sa.Integer(), nullable=False),
        sa.Column('compound_id', sa.Integer(), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('poster_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_wish_keys')))
    columns = ', '.join(COLUMNS)
    op.execute(f'INSERT INTO wish_keys (id, {columns}) SELECT id, {columns} FROM wishes')
    for name, keys, _ in MOVED:
        op.create_index(f'ix_wish_keys_{name}', 'wish_keys', keys, unique=False)
        op.drop_index(f'ix_wishes_{name}', table_name='wishes')


def downgrade():
    for name, _, columns in MOVED:
        op.create_index(f'ix_wishes_{name}', 'wishes', columns, unique=False)
    op.drop_table('wish_keys')
