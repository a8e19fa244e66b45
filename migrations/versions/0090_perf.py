"""indexes and columns for read paths and jobs (issues 11-13)

Revision ID: 0090
Revises: 0085
Create Date: 2026-12-02 06:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0090'
down_revision = '0085'
branch_labels = None
depends_on = None


# --- console dashboard (issue 16, app.services.incidents.stats.dashboard) -----------------
# A community's incidents filed in a range are counted from ix_incidents_community_created
# alone (an index-only scan: the columns the counts read are included), and the open ones
# by building and the overdue list read the small partial index ix_incidents_open_due.
# Without them the dashboard of a community with 1,000,000 incidents read most of the table
# three times (1.3 s server time; 0.2 s with them, EXPLAIN in bench/README.md).
DASHBOARD_OPEN = ("status IN ('submitted', 'pending_review', 'dispatched', 'accepted', "
                  "'in_progress', 'escalated')")
DASHBOARD_INDEXES = [
    ('ix_incidents_community_created', ['community_id', 'created_at'],
     {'postgresql_include': ['status', 'category_id', 'responded_at', 'respond_by',
                             'resolved_at', 'resolve_by']}),
    ('ix_incidents_open_due', ['resolve_by'],
     {'postgresql_include': ['community_id', 'compound_id', 'grid_id', 'building_id',
                             'status', 'id'],
      'postgresql_where': sa.text(DASHBOARD_OPEN), 'sqlite_where': sa.text(DASHBOARD_OPEN)}),
]


def upgrade_dashboard():
    for name, columns, options in DASHBOARD_INDEXES:
        op.create_index(name, 'incidents', columns, unique=False, **options)


def downgrade_dashboard():
    for name, _columns, options in reversed(DASHBOARD_INDEXES):
        op.drop_index(name, table_name='incidents', **options)
# --- end of the console dashboard's block ------------------------------------------------


# --- wishes: the claim job (issue 12, app.services.wishes.expiry) ---------------------------
# Releasing a claim clears claimer_id and claimed_at, and no wish is completed before it is
# claimed: as partial indexes over the rows that have a value, these three get no entry for
# a released (or never claimed) wish, three index writes fewer per wish in the UPDATE of
# the claim job (an UPDATE that changes status cannot be HOT). Every query that reads them
# compares the column (= or a range), which implies IS NOT NULL.
WISH_PARTIAL = [
    ('ix_wishes_claimer', ['claimer_id', 'status', 'id'], 'claimer_id IS NOT NULL'),
    ('ix_wishes_claimed', ['claimed_at'], 'claimed_at IS NOT NULL'),
    ('ix_wishes_completed', ['completed_at'], 'completed_at IS NOT NULL'),
]


def upgrade_wishes():
    for name, columns, where in WISH_PARTIAL:
        op.drop_index(name, table_name='wishes')
        op.create_index(name, 'wishes', columns, unique=False,
                        postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def downgrade_wishes():
    for name, columns, where in reversed(WISH_PARTIAL):
        op.drop_index(name, table_name='wishes', postgresql_where=sa.text(where),
                      sqlite_where=sa.text(where))
        op.create_index(name, 'wishes', columns, unique=False)
# --- end of the wishes block ---------------------------------------------------------------


def upgrade():
    upgrade_dashboard()
    upgrade_wishes()


def downgrade():
    downgrade_wishes()
    downgrade_dashboard()
