"""outbox: partial index on what is still to send (pending rows in claim order)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02 01:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


PENDING = "status = 'pending'"


def upgrade():
    op.create_index('ix_notifications_pending', 'notifications', ['next_attempt_at', 'id'],
                    unique=False, postgresql_where=sa.text(PENDING),
                    sqlite_where=sa.text(PENDING))


def downgrade():
    op.drop_index('ix_notifications_pending', table_name='notifications',
                  postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))
