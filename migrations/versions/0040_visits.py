"""visits and notices: 六必访 visit rules, visits, overdue escalations; weekly notices and
their per-compound settings

Revision ID: 0040
Revises: 0030
Create Date: 2026-12-02 01:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0040'
down_revision = '0030'
branch_labels = None
depends_on = None

# The default visit rules (configurable afterwards: a row per care tag, and 流动党员).
DEFAULT_RULES = [
    ("household", "living_alone", 7, "grid_worker"),
    ("household", "empty_nest", 14, "grid_worker"),
    ("household", "hardship", 14, "grid_worker"),
    ("household", "disabled", 14, "grid_worker"),
    ("household", "left_behind_child", 14, "grid_worker"),
    ("household", "special", 14, "grid_worker"),
    ("household", "petitioner", 14, "grid_worker"),
    ("household", "floating", 30, "grid_worker"),
    ("floating_member", None, 30, "secretary"),
]


def upgrade():
    op.create_table('visit_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.Enum('household', 'floating_member', name='visit_subject', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('care_tag', sa.Enum('hardship', 'empty_nest', 'living_alone', 'disabled', 'left_behind_child', 'floating', 'special', 'petitioner', name='visit_rule_tag', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('every_days', sa.Integer(), nullable=False),
    sa.Column('owed_by', sa.Enum('resident', 'party_member', 'grid_worker', 'secretary', 'staff', 'department', 'canteen_staff', 'admin', name='visit_rule_role', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.CheckConstraint("(subject = 'household') = (care_tag IS NOT NULL)", name=op.f('ck_visit_rules_tag_iff_household')),
    sa.CheckConstraint('every_days BETWEEN 1 AND 366', name=op.f('ck_visit_rules_every_days_in_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit_rules')),
    sa.UniqueConstraint('subject', 'care_tag', name='uq_visit_rules_subject_tag')
    )
    op.create_table('visit_escalations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_key', sa.String(length=32), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('compound_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['compound_id'], ['compounds.id'], name=op.f('fk_visit_escalations_compound_id_compounds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit_escalations')),
    sa.UniqueConstraint('subject_key', 'due_at', name='uq_visit_escalations_once')
    )
    op.create_table('notice_settings',
    sa.Column('compound_id', sa.Integer(), nullable=False),
    sa.Column('station_address', sa.String(length=100), nullable=True),
    sa.Column('station_hours', sa.String(length=100), nullable=True),
    sa.Column('public_contact', sa.String(length=40), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['compound_id'], ['compounds.id'], name=op.f('fk_notice_settings_compound_id_compounds')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_notice_settings_updated_by_id_users')),
    sa.PrimaryKeyConstraint('compound_id', name=op.f('pk_notice_settings'))
    )
    op.create_table('notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('compound_id', sa.Integer(), nullable=False),
    sa.Column('iso_year', sa.Integer(), nullable=False),
    sa.Column('iso_week', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'published', 'superseded', 'withdrawn', name='notice_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('sections', sa.JSON(), nullable=False),
    sa.Column('snapshot', sa.JSON(), nullable=False),
    sa.Column('corrects_id', sa.Integer(), nullable=True),
    sa.Column('correction_note', sa.String(length=200), nullable=True),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('published_by_id', sa.Integer(), nullable=True),
    sa.Column('published_at', sa.DateTime(), nullable=True),
    sa.Column('withdrawn_by_id', sa.Integer(), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(), nullable=True),
    sa.Column('withdraw_reason', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('iso_week BETWEEN 1 AND 53', name=op.f('ck_notices_week_in_range')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_notices_version_positive')),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_notices_author_id_users')),
    sa.ForeignKeyConstraint(['compound_id'], ['compounds.id'], name=op.f('fk_notices_compound_id_compounds')),
    sa.ForeignKeyConstraint(['corrects_id'], ['notices.id'], name=op.f('fk_notices_corrects_id_notices')),
    sa.ForeignKeyConstraint(['published_by_id'], ['users.id'], name=op.f('fk_notices_published_by_id_users')),
    sa.ForeignKeyConstraint(['withdrawn_by_id'], ['users.id'], name=op.f('fk_notices_withdrawn_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notices')),
    sa.UniqueConstraint('compound_id', 'iso_year', 'iso_week', 'version', name='uq_notices_version')
    )
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.create_index('ix_notices_compound', ['compound_id', 'id'], unique=False)
        batch_op.create_index('ix_notices_week', ['iso_year', 'iso_week', 'status'], unique=False)
        batch_op.create_index('uq_notices_one_draft', ['compound_id', 'iso_year', 'iso_week'], unique=True, sqlite_where=sa.text("status = 'draft'"), postgresql_where=sa.text("status = 'draft'"))
        batch_op.create_index('uq_notices_one_published', ['compound_id', 'iso_year', 'iso_week'], unique=True, sqlite_where=sa.text("status = 'published'"), postgresql_where=sa.text("status = 'published'"))

    op.create_table('visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.Enum('household', 'floating_member', name='visit_subject', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=True),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('compound_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=True),
    sa.Column('visitor_id', sa.Integer(), nullable=False),
    sa.Column('visitor_role', sa.Enum('resident', 'party_member', 'grid_worker', 'secretary', 'staff', 'department', 'canteen_staff', 'admin', name='visit_visitor_role', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('kind', sa.Enum('home', 'phone', 'video', name='visit_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('situation', sa.String(length=500), nullable=False),
    sa.Column('needs', sa.String(length=500), nullable=True),
    sa.Column('problems', sa.String(length=500), nullable=True),
    sa.Column('photo_ids', sa.JSON(), nullable=False),
    sa.Column('wish_id', sa.Integer(), nullable=True),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('visited_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("(subject = 'household' AND household_id IS NOT NULL AND member_id IS NULL) OR (subject = 'floating_member' AND member_id IS NOT NULL AND household_id IS NULL)", name=op.f('ck_visits_one_subject')),
    sa.ForeignKeyConstraint(['compound_id'], ['compounds.id'], name=op.f('fk_visits_compound_id_compounds')),
    sa.ForeignKeyConstraint(['grid_id'], ['grids.id'], name=op.f('fk_visits_grid_id_grids')),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_visits_household_id_households')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_visits_incident_id_incidents')),
    sa.ForeignKeyConstraint(['member_id'], ['users.id'], name=op.f('fk_visits_member_id_users')),
    sa.ForeignKeyConstraint(['visitor_id'], ['users.id'], name=op.f('fk_visits_visitor_id_users')),
    sa.ForeignKeyConstraint(['wish_id'], ['wishes.id'], name=op.f('fk_visits_wish_id_wishes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visits'))
    )
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.create_index('ix_visits_compound', ['compound_id', 'visited_at'], unique=False)
        batch_op.create_index('ix_visits_household', ['household_id', 'visited_at'], unique=False)
        batch_op.create_index('ix_visits_member', ['member_id', 'visited_at'], unique=False)

    rules = sa.table('visit_rules', sa.column('subject', sa.String), sa.column('care_tag', sa.String),
                     sa.column('every_days', sa.Integer), sa.column('owed_by', sa.String),
                     sa.column('active', sa.Boolean))
    op.bulk_insert(rules, [{"subject": s, "care_tag": t, "every_days": d, "owed_by": o, "active": True}
                           for s, t, d, o in DEFAULT_RULES])


def downgrade():
    op.drop_table('visits')
    op.drop_table('notices')
    op.drop_table('notice_settings')
    op.drop_table('visit_escalations')
    op.drop_table('visit_rules')
