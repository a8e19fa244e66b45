"""the claim job's release (issue 12): notifications.user_id loses its FOREIGN KEY to users

Revision ID: 0100
Revises: 0095
Create Date: 2026-12-02 18:30:00.000000

Releasing 50,000 claims that ran out queues 100,000 outbox rows (the requester's side and
the claimer, app.services.wishes.expiry). With the FOREIGN KEY every row fired an RI
trigger that looked the user up and locked their row FOR KEY SHARE, which also writes that
users page (a row lock is an xmax on the tuple): about 14% of the job's database CPU,
measured on the bench data (bench/bench_wishes.py).

Why the outbox can do without it:
- users are never deleted: no code path deletes a `User` (accounts are kept; roles are
  revoked, tokens dropped), and a hard delete would be refused anyway by the many other
  tables that keep their FOREIGN KEY to users (wishes, role_grants, tokens, ledger, ...);
- every writer takes the user id from a users row or from a column that keeps its own
  FOREIGN KEY (a `User`, a role grant, a wish's requester, poster or claimer), so the check
  repeated, per message, one that was already made;
- the outbox is append-mostly and read by user through ix_notifications_inbox, which
  stays; the dispatcher joins users, so a row naming no user would only never be sent.

Nothing else changes: the dedupe key stays unique and the same, every index stays.
Downgrading puts the constraint back (it fails if rows name users that do not exist).

The wishes indexes stay as they are: a released wish is published with a due date and no
claimer, so its new row version belongs in every index the release writes (the wall's,
the scopes', `mine`, the household limit's, the timers'); the claimer's, claimed_at's and
completed_at's are already partial (0090) and get no entry.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0100'
down_revision = '0095'
branch_labels = None
depends_on = None

FK = 'fk_notifications_user_id_users'


def upgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(FK, type_='foreignkey')


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_foreign_key(FK, 'users', ['user_id'], ['id'])
