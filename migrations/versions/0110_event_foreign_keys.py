"""the timelines' parent keys (issues 11, 12): incident_events.incident_id and
wish_events.wish_id lose their FOREIGN KEYs

Revision ID: 0110
Revises: 0105
Create Date: 2026-12-03 12:40:00.000000

The SLA sweep's first run over the bench data (bench/bench_incidents.py, 1,000,000
incidents) records about 49,000 breach events. With the FOREIGN KEY every event fired an RI
trigger that looked its incident up and locked the row FOR KEY SHARE, which writes that
incident's page (a row lock is an xmax on the tuple): about 0.5 s of a 4.8 s sweep, more
than the INSERT itself (measured on copies of the same database, with and without the
constraint). The claim job's release writes one wish event per released wish, the same way.

Why the timelines can do without them (the argument of 0100 for the outbox):
- incidents and wishes are never deleted: no code path deletes either, and a hard delete
  would be refused anyway by the tables that keep their FOREIGN KEY to them (the SLA
  clocks, visits, duplicates);
- every writer takes the id from the row it has just written or locked in the same
  transaction (`timeline.record`, the jobs' INSERT … SELECT from the rows they moved), so
  the check repeated one the transaction had already made;
- the timelines are append-only and read by their parent through their indexes, which
  stay.

Downgrading puts the constraints back (it fails if an event names a missing parent).
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0110'
down_revision = '0105'
branch_labels = None
depends_on = None

KEYS = (('incident_events', 'fk_incident_events_incident_id_incidents', 'incidents',
         'incident_id'),
        ('wish_events', 'fk_wish_events_wish_id_wishes', 'wishes', 'wish_id'))


def upgrade():
    for table, name, _, _ in KEYS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(name, type_='foreignkey')


def downgrade():
    for table, name, parent, column in KEYS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_foreign_key(name, parent, [column], ['id'])
