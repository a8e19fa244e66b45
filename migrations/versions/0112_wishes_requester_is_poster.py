"""a wish's requester is its poster (issue 12): CHECK, and ix_wishes_requester dropped

Revision ID: 0112
Revises: 0111
Create Date: 2026-12-03 20:00:00.000000

A wish has a requester only when a resident posted it for themselves
(app.services.wishes.posting): `requester_id` is then the poster, and NULL when a grid
worker or secretary posted for a household. The CHECK `requester_id IS NULL OR
requester_id = poster_id` writes that down, so `scope=mine` ("I want or posted it") reads
`poster_id` alone and the index on `requester_id` had no reader left. Every UPDATE of a
wish that is not a HOT update wrote an entry into it, the claim job's release included
(50,000 entries for a catch-up of 50,000 claims).

Upgrading fails if a row breaks the rule (none can: the code never wrote one).
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0112'
down_revision = '0111'
branch_labels = None
depends_on = None

CHECK, INDEX = 'requester_is_poster', 'ix_wishes_requester'


def upgrade():
    with op.batch_alter_table('wishes', schema=None) as batch_op:
        batch_op.drop_index(INDEX)
        batch_op.create_check_constraint(CHECK, 'requester_id IS NULL OR requester_id = poster_id')


def downgrade():
    with op.batch_alter_table('wishes', schema=None) as batch_op:
        batch_op.drop_constraint(CHECK, type_='check')
        batch_op.create_index(INDEX, ['requester_id', 'id'], unique=False)
