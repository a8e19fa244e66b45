"""indexes for the weekly notice and visits (issue 14)

The Monday `notice-drafts` job reads one week of incidents, escalations, wishes and visits
for every compound (each compound's open incidents come through ix_incidents_status_resolved,
as many as are open, whatever the history). Without these indexes each of its
statements scanned the whole table, so its cost grew with the history rather than with the
week (EXPLAIN plans in bench/README.md, bench_notices.py). The due-visits list's probe of
a subject's last visit gets the id into its index.

Revision ID: 0070
Revises: 0060
Create Date: 2026-12-02 06:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0070'
down_revision = '0060'
branch_labels = None
depends_on = None

ESCALATE = "action = 'escalate'"
PLAIN = [
    ('ix_incidents_created', 'incidents', ['created_at']),
    ('ix_wishes_created', 'wishes', ['created_at']),
    ('ix_wishes_claimed', 'wishes', ['claimed_at']),
    ('ix_wishes_completed', 'wishes', ['completed_at']),
    ('ix_visits_visited', 'visits', ['visited_at']),
]


# The due list's "last visit" probe orders by (visited_at, id): the id joins the index, so
# the probe reads one entry instead of sorting each subject's visits.
LAST_VISIT = [('ix_visits_household', 'household_id'), ('ix_visits_member', 'member_id')]


def upgrade():
    for name, column in LAST_VISIT:
        op.drop_index(name, table_name='visits')
        op.create_index(name, 'visits', [column, 'visited_at', 'id'], unique=False)
    for name, table, columns in PLAIN:
        op.create_index(name, table, columns, unique=False)
    op.create_index('ix_incident_events_escalated', 'incident_events', ['created_at'],
                    unique=False, postgresql_where=sa.text(ESCALATE),
                    sqlite_where=sa.text(ESCALATE))


def downgrade():
    op.drop_index('ix_incident_events_escalated', table_name='incident_events',
                  postgresql_where=sa.text(ESCALATE), sqlite_where=sa.text(ESCALATE))
    for name, table, _columns in reversed(PLAIN):
        op.drop_index(name, table_name=table)
    for name, column in LAST_VISIT:
        op.drop_index(name, table_name='visits')
        op.create_index(name, 'visits', [column, 'visited_at'], unique=False)
