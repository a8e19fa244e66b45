"""console data: export jobs and the household head's phone (issue 16, Excel)

Revision ID: 0085
Revises: 0080
Create Date: 2026-12-02 06:30:00.000000

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

# revision identifiers, used by Alembic.
revision = '0085'
down_revision = '0080'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'export_jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('filters', sa.JSON(), nullable=False),
        sa.Column('status', sa.Enum('pending', 'done', 'failed', name='export_status',
                                    native_enum=False, create_constraint=True, length=32),
                  nullable=False),
        sa.Column('row_count', sa.Integer(), nullable=True),
        sa.Column('filename', sa.String(length=200), nullable=True),
        sa.Column('storage_key', sa.String(length=200), nullable=True),
        sa.Column('error', sa.String(length=200), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'))
    with op.batch_alter_table('export_jobs') as batch_op:
        batch_op.create_index('ix_export_jobs_pending', ['id'],
                              sqlite_where=sa.text("status = 'pending'"),
                              postgresql_where=sa.text("status = 'pending'"))
        batch_op.create_index('ix_export_jobs_user', ['user_id', 'id'])
    with op.batch_alter_table('households') as batch_op:
        batch_op.add_column(sa.Column('head_phone', sa.String(length=20), nullable=True))


def downgrade():
    with op.batch_alter_table('households') as batch_op:
        batch_op.drop_column('head_phone')
    with op.batch_alter_table('export_jobs') as batch_op:
        batch_op.drop_index('ix_export_jobs_user')
        batch_op.drop_index('ix_export_jobs_pending')
    op.drop_table('export_jobs')
