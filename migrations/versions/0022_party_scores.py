"""party: 党员积分 staff-entered score items (placeholder until filled)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02 01:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('party_score_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=100), nullable=False),
    sa.Column('entered_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('points <> 0 AND points BETWEEN -100 AND 100', name=op.f('ck_party_score_items_points_in_range')),
    sa.CheckConstraint('year BETWEEN 2000 AND 2100', name=op.f('ck_party_score_items_year_in_range')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_party_score_items_community_id_communities')),
    sa.ForeignKeyConstraint(['entered_by_id'], ['users.id'], name=op.f('fk_party_score_items_entered_by_id_users')),
    sa.ForeignKeyConstraint(['member_id'], ['users.id'], name=op.f('fk_party_score_items_member_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_party_score_items'))
    )
    with op.batch_alter_table('party_score_items', schema=None) as batch_op:
        batch_op.create_index('ix_party_score_items_community', ['community_id', 'year', 'id'], unique=False)
        batch_op.create_index('ix_party_score_items_member', ['member_id', 'year', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('party_score_items', schema=None) as batch_op:
        batch_op.drop_index('ix_party_score_items_member')
        batch_op.drop_index('ix_party_score_items_community')

    op.drop_table('party_score_items')
