"""party: 双报到 registrations, service posts, sign-ups and service-hour logs

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 23:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('party_registrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('employer', sa.String(length=100), nullable=False),
    sa.Column('skills', sa.String(length=200), nullable=True),
    sa.Column('status', sa.Enum('pending', 'confirmed', 'rejected', 'ended', name='party_registration_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_party_registrations_community_id_communities')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_party_registrations_decided_by_id_users')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_party_registrations_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_party_registrations'))
    )
    with op.batch_alter_table('party_registrations', schema=None) as batch_op:
        batch_op.create_index('ix_party_registrations_community', ['community_id', 'status', 'id'], unique=False)
        batch_op.create_index('ix_party_registrations_user', ['user_id', 'id'], unique=False)
        batch_op.create_index('uq_party_registrations_one_confirmed', ['user_id'], unique=True, sqlite_where=sa.text("status = 'confirmed'"), postgresql_where=sa.text("status = 'confirmed'"))
        batch_op.create_index('uq_party_registrations_one_pending', ['user_id'], unique=True, sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))

    op.create_table('service_posts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=40), nullable=False),
    sa.Column('category', sa.Enum('organization', 'legal', 'assistance', 'governance', 'health', 'culture', 'safety', 'other', name='service_category', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('place', sa.String(length=100), nullable=False),
    sa.Column('headcount', sa.Integer(), nullable=False),
    sa.Column('signup_count', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_service_posts_ends_after_start')),
    sa.CheckConstraint('headcount > 0', name=op.f('ck_service_posts_headcount_positive')),
    sa.CheckConstraint('signup_count >= 0 AND signup_count <= headcount', name=op.f('ck_service_posts_signups_within_headcount')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_service_posts_community_id_communities')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_service_posts_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_posts'))
    )
    with op.batch_alter_table('service_posts', schema=None) as batch_op:
        batch_op.create_index('ix_service_posts_community', ['community_id', 'id'], unique=False)
        batch_op.create_index('ix_service_posts_ends', ['ends_at'], unique=False)

    op.create_table('service_signups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['users.id'], name=op.f('fk_service_signups_member_id_users')),
    sa.ForeignKeyConstraint(['post_id'], ['service_posts.id'], name=op.f('fk_service_signups_post_id_service_posts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_signups')),
    sa.UniqueConstraint('post_id', 'member_id', name=op.f('uq_service_signups_post_id_member_id'))
    )
    with op.batch_alter_table('service_signups', schema=None) as batch_op:
        batch_op.create_index('ix_service_signups_member', ['member_id', 'id'], unique=False)

    op.create_table('service_logs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.Enum('checkin', 'manual', name='service_log_source', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('check_in_at', sa.DateTime(), nullable=False),
    sa.Column('check_out_at', sa.DateTime(), nullable=True),
    sa.Column('hours', sa.Numeric(precision=4, scale=1), nullable=True),
    sa.Column('flagged', sa.Boolean(), nullable=False),
    sa.Column('verified_by_id', sa.Integer(), nullable=True),
    sa.Column('verified_at', sa.DateTime(), nullable=True),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("source = 'manual' OR post_id IS NOT NULL", name=op.f('ck_service_logs_checkin_has_post')),
    sa.CheckConstraint('check_out_at IS NULL OR check_out_at >= check_in_at', name=op.f('ck_service_logs_out_after_in')),
    sa.CheckConstraint('hours IS NULL OR (hours >= 0 AND hours <= 8)', name=op.f('ck_service_logs_hours_within_a_day')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_service_logs_community_id_communities')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_service_logs_created_by_id_users')),
    sa.ForeignKeyConstraint(['member_id'], ['users.id'], name=op.f('fk_service_logs_member_id_users')),
    sa.ForeignKeyConstraint(['post_id'], ['service_posts.id'], name=op.f('fk_service_logs_post_id_service_posts')),
    sa.ForeignKeyConstraint(['verified_by_id'], ['users.id'], name=op.f('fk_service_logs_verified_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_logs'))
    )
    with op.batch_alter_table('service_logs', schema=None) as batch_op:
        batch_op.create_index('ix_service_logs_community', ['community_id', 'flagged', 'id'], unique=False)
        batch_op.create_index('ix_service_logs_history', ['member_id', 'id'], unique=False)
        batch_op.create_index('ix_service_logs_member', ['member_id', 'check_in_at'], unique=False)
        batch_op.create_index('ix_service_logs_open', ['post_id'], unique=False, sqlite_where=sa.text('check_out_at IS NULL'), postgresql_where=sa.text('check_out_at IS NULL'))
        batch_op.create_index('uq_service_logs_one_checkin', ['post_id', 'member_id'], unique=True, sqlite_where=sa.text("source = 'checkin'"), postgresql_where=sa.text("source = 'checkin'"))


def downgrade():
    with op.batch_alter_table('service_logs', schema=None) as batch_op:
        batch_op.drop_index('uq_service_logs_one_checkin', sqlite_where=sa.text("source = 'checkin'"), postgresql_where=sa.text("source = 'checkin'"))
        batch_op.drop_index('ix_service_logs_open', sqlite_where=sa.text('check_out_at IS NULL'), postgresql_where=sa.text('check_out_at IS NULL'))
        batch_op.drop_index('ix_service_logs_member')
        batch_op.drop_index('ix_service_logs_history')
        batch_op.drop_index('ix_service_logs_community')

    op.drop_table('service_logs')
    with op.batch_alter_table('service_signups', schema=None) as batch_op:
        batch_op.drop_index('ix_service_signups_member')

    op.drop_table('service_signups')
    with op.batch_alter_table('service_posts', schema=None) as batch_op:
        batch_op.drop_index('ix_service_posts_ends')
        batch_op.drop_index('ix_service_posts_community')

    op.drop_table('service_posts')
    with op.batch_alter_table('party_registrations', schema=None) as batch_op:
        batch_op.drop_index('uq_party_registrations_one_pending', sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
        batch_op.drop_index('uq_party_registrations_one_confirmed', sqlite_where=sa.text("status = 'confirmed'"), postgresql_where=sa.text("status = 'confirmed'"))
        batch_op.drop_index('ix_party_registrations_user')
        batch_op.drop_index('ix_party_registrations_community')

    op.drop_table('party_registrations')
