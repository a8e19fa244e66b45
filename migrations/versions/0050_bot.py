"""bot: inbound message dedupe, conversation sessions, 办事指南 catalog, gaps, hand-off
tickets; the notifications' customer-service channel

Revision ID: 0050
Revises: 0040
Create Date: 2026-12-02 01:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0050'
down_revision = '0040'
branch_labels = None
depends_on = None

CHANNELS_BEFORE = ('subscribe', 'template', 'inbox')
CHANNELS = CHANNELS_BEFORE + ('customer_service',)


def _channel_check(values):
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_notifications_channel'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_notifications_channel'),
            sa.text('channel IN (%s)' % ', '.join("'%s'" % v for v in values)))


def upgrade():
    op.create_table('bot_sessions',
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('unionid', sa.String(length=64), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('compound_id', sa.Integer(), nullable=True),
    sa.Column('following', sa.Boolean(), nullable=False),
    sa.Column('flow', sa.String(length=32), nullable=True),
    sa.Column('step', sa.String(length=32), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('misunderstood', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['compound_id'], ['compounds.id'], name=op.f('fk_bot_sessions_compound_id_compounds')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_bot_sessions_user_id_users')),
    sa.PrimaryKeyConstraint('openid', name=op.f('pk_bot_sessions'))
    )
    with op.batch_alter_table('bot_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bot_sessions_unionid'), ['unionid'], unique=False)
        batch_op.create_index(batch_op.f('ix_bot_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('bot_inbound',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('status', sa.Enum('done', 'queued', 'failed', name='inbound_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('handled_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bot_inbound')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_bot_inbound_dedupe_key'))
    )
    with op.batch_alter_table('bot_inbound', schema=None) as batch_op:
        batch_op.create_index('ix_bot_inbound_queue', ['status', 'created_at'], unique=False)

    op.create_table('guide_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=60), nullable=False),
    sa.Column('synonyms', sa.JSON(), nullable=False),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('materials', sa.Text(), nullable=True),
    sa.Column('hours', sa.String(length=120), nullable=True),
    sa.Column('place', sa.String(length=120), nullable=True),
    sa.Column('department', sa.String(length=60), nullable=True),
    sa.Column('updated_on', sa.Date(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_guide_entries_community_id_communities')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_guide_entries_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guide_entries')),
    sa.UniqueConstraint('community_id', 'title', name=op.f('uq_guide_entries_community_id_title'))
    )
    with op.batch_alter_table('guide_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guide_entries_community_id'), ['community_id'], unique=False)

    op.create_table('guide_gaps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=True),
    sa.Column('question', sa.String(length=300), nullable=False),
    sa.Column('best_entry_id', sa.Integer(), nullable=True),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('resolved', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['best_entry_id'], ['guide_entries.id'], name=op.f('fk_guide_gaps_best_entry_id_guide_entries'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_guide_gaps_community_id_communities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guide_gaps'))
    )
    with op.batch_alter_table('guide_gaps', schema=None) as batch_op:
        batch_op.create_index('ix_guide_gaps_community', ['community_id', 'resolved', 'id'], unique=False)

    op.create_table('bot_tickets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('community_id', sa.Integer(), nullable=True),
    sa.Column('question', sa.String(length=300), nullable=False),
    sa.Column('status', sa.Enum('open', 'answered', name='ticket_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('answer', sa.String(length=2000), nullable=True),
    sa.Column('answered_by_id', sa.Integer(), nullable=True),
    sa.Column('answered_at', sa.DateTime(), nullable=True),
    sa.Column('delivered', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['answered_by_id'], ['users.id'], name=op.f('fk_bot_tickets_answered_by_id_users')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_bot_tickets_community_id_communities')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_bot_tickets_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bot_tickets'))
    )
    with op.batch_alter_table('bot_tickets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bot_tickets_openid'), ['openid'], unique=False)
        batch_op.create_index('ix_bot_tickets_queue', ['community_id', 'status', 'id'], unique=False)

    _channel_check(CHANNELS)


def downgrade():
    op.execute("UPDATE notifications SET channel = 'inbox' WHERE channel = 'customer_service'")
    _channel_check(CHANNELS_BEFORE)
    with op.batch_alter_table('bot_tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_bot_tickets_queue')
        batch_op.drop_index(batch_op.f('ix_bot_tickets_openid'))
    op.drop_table('bot_tickets')
    with op.batch_alter_table('guide_gaps', schema=None) as batch_op:
        batch_op.drop_index('ix_guide_gaps_community')
    op.drop_table('guide_gaps')
    with op.batch_alter_table('guide_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guide_entries_community_id'))
    op.drop_table('guide_entries')
    with op.batch_alter_table('bot_inbound', schema=None) as batch_op:
        batch_op.drop_index('ix_bot_inbound_queue')
    op.drop_table('bot_inbound')
    with op.batch_alter_table('bot_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bot_sessions_user_id'))
        batch_op.drop_index(batch_op.f('ix_bot_sessions_unionid'))
    op.drop_table('bot_sessions')
