"""canteen: canteens, meals, diner profiles, bookings, feedback (placeholder until filled)

Revision ID: 0030
Revises: 0023
Create Date: 2026-12-02 01:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0030'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
