"""incident public: visibility and the reporter's building, copied when a report is filed

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 22:35:13.966668

`incidents.public` is the category's `public` when the report was filed, so making a
category public later never publishes old private reports; existing rows take their
category's value now. `incidents.reporter_building_id` is the building of the reporter's
verified household when the report was filed (the public mask "1号楼住户"); existing rows take
the reporter's verified household of today, or none ("居民").
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public', sa.Boolean(), nullable=False,
                                      server_default=sa.true()))
        batch_op.add_column(sa.Column('reporter_building_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_incidents_reporter_building_id_buildings'), 'buildings', ['reporter_building_id'], ['id'])

    op.execute("UPDATE incidents SET public = (SELECT c.public FROM incident_categories c "
               "WHERE c.id = incidents.category_id)")
    op.execute("UPDATE incidents SET reporter_building_id = (SELECT h.building_id FROM users u "
               "JOIN households h ON h.id = u.household_id WHERE u.id = incidents.reporter_id)")
    # Every new report states its visibility (app.services.incidents.filing): no default.
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.alter_column('public', server_default=None)


def downgrade():
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_incidents_reporter_building_id_buildings'), type_='foreignkey')
        batch_op.drop_column('reporter_building_id')
        batch_op.drop_column('public')
