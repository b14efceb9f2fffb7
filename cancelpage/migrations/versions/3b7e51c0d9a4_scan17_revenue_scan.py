"""revenue scan: one durable job per scan, its checkpoint and its figures

Revision ID: 3b7e51c0d9a4
Revises: 3c9e51a7d2b4
Create Date: 2026-12-01 23:00:00

"""
from alembic import op
import sqlalchemy as sa

import cancelpage.models  # custom column types (UTCDateTime)

# revision identifiers, used by Alembic.
revision = '3b7e51c0d9a4'
down_revision = '3c9e51a7d2b4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'revenue_scan',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('merchant_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('months', sa.Integer(), nullable=False),
        sa.Column('window_start', cancelpage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('window_end', cancelpage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('simulated', sa.Boolean(), nullable=False),
        sa.Column('phase', sa.Integer(), nullable=False),
        sa.Column('cursor', sa.String(length=255), nullable=True),
        sa.Column('objects_read', sa.Integer(), nullable=False),
        sa.Column('requests', sa.Integer(), nullable=False),
        sa.Column('rate_limited', sa.Integer(), nullable=False),
        sa.Column('figures', sa.JSON(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('claim_token', sa.String(length=32), nullable=True),
        sa.Column('claimed_until', cancelpage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', cancelpage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('started_at', cancelpage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('finished_at', cancelpage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_revenue_scan_merchant_id_merchant')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_revenue_scan')),
    )
    with op.batch_alter_table('revenue_scan', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_revenue_scan_merchant_id'), ['merchant_id'], unique=False)
        batch_op.create_index('ix_revenue_scan_due', ['status', 'claimed_until'], unique=False)
        batch_op.create_index('uq_revenue_scan_one_active', ['merchant_id'], unique=True, sqlite_where=sa.text("status IN ('queued', 'running')"), postgresql_where=sa.text("status IN ('queued', 'running')"))


def downgrade():
    with op.batch_alter_table('revenue_scan', schema=None) as batch_op:
        batch_op.drop_index('uq_revenue_scan_one_active', sqlite_where=sa.text("status IN ('queued', 'running')"), postgresql_where=sa.text("status IN ('queued', 'running')"))
        batch_op.drop_index('ix_revenue_scan_due')
        batch_op.drop_index(batch_op.f('ix_revenue_scan_merchant_id'))
    op.drop_table('revenue_scan')
