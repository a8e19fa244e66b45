"""visits: visit rules' records and notices (placeholder until filled)

Revision ID: 0040
Revises: 0030
Create Date: 2026-12-02 01:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0040'
down_revision = '0030'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
