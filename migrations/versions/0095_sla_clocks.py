"""incidents: the SLA ladder's next step moves to a narrow table of its own; the outbox's
status index leaves out pending rows

`incidents.sla_next_at` (and its index) becomes `incident_sla_clocks` (incident_id, next_at):
the SLA job moves every due incident on each minute, and an UPDATE of the incident's wide row
rewrote all nine of its indexes (no HOT update: the column was indexed).
`ix_notifications_queue` serves lease expiry and pruning, never pending rows (the claim reads
`ix_notifications_pending`): as a partial index it costs a queued row nothing.

Revision ID: 0095
Revises: 0090
Create Date: 2026-12-02 06:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0095'
down_revision = '0090'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('incident_sla_clocks',
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('next_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], 
                            name=op.f('fk_incident_sla_clocks_incident_id_incidents')),
    sa.PrimaryKeyConstraint('incident_id', name=op.f('pk_incident_sla_clocks'))
    )
    op.create_index('ix_incident_sla_clocks_due', 'incident_sla_clocks', ['next_at', 'incident_id'],
                    unique=False)
    op.execute("INSERT INTO incident_sla_clocks (incident_id, next_at) "
               "SELECT id, sla_next_at FROM incidents WHERE sla_next_at IS NOT NULL")
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_incidents_sla')
        batch_op.drop_column('sla_next_at')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_queue')
        batch_op.create_index('ix_notifications_queue', ['status', 'next_attempt_at'], unique=False,
                              postgresql_where=sa.text("status <> 'pending'"),
                              sqlite_where=sa.text("status <> 'pending'"))


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_queue')
        batch_op.create_index('ix_notifications_queue', ['status', 'next_attempt_at'], unique=False)
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sla_next_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_incidents_sla', ['sla_next_at'], unique=False)
    op.execute("UPDATE incidents SET sla_next_at = (SELECT next_at FROM incident_sla_clocks "
               "WHERE incident_sla_clocks.incident_id = incidents.id)")
    op.drop_index('ix_incident_sla_clocks_due', table_name='incident_sla_clocks')
    op.drop_table('incident_sla_clocks')
