"""console data: version columns for optimistic edits (issue 16, org and people)

Revision ID: 0080
Revises: 0070
Create Date: 2026-12-02 06:30:00.000000

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0080'
down_revision = '0070'
branch_labels = None
depends_on = None


# The tables the console's edit forms write (app.models.base.Versioned).
TABLES = ("grids", "compounds", "buildings", "households", "guide_entries", "rewards")


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("version", sa.Integer(), nullable=False,
                                       server_default=sa.text("1")))


def downgrade():
    for table in reversed(TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("version")
