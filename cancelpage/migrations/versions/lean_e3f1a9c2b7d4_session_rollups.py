"""session rollups: the analytics dashboard's pre-aggregated sessions (issue 19)

Revision ID: e3f1a9c2b7d4
Revises: e3b9a51c7d20
Create Date: 2026-12-02 02:00:00.000000

After upgrading, fill them from the existing sessions: `flask --app cancelpage analytics rebuild`.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = 'e3f1a9c2b7d4'
down_revision = 'e3b9a51c7d20'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('session_rollup',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('dimensions', sa.String(length=40), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('preview', sa.Boolean(), nullable=False),
    sa.Column('plan', sa.String(length=255), nullable=True),
    sa.Column('reason', sa.String(length=40), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.Column('flow_version_id', sa.Integer(), nullable=True),
    sa.Column('accepted_offer', sa.String(length=40), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('billing_interval', sa.String(length=5), nullable=False),
    sa.Column('billing_interval_count', sa.Integer(), nullable=False),
    sa.Column('accepted_mrr', sa.Integer(), nullable=True),
    sa.Column('offers_shown', sa.JSON(), nullable=False),
    sa.Column('assignments', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('retained_30', sa.Boolean(), nullable=False),
    sa.Column('retained_60', sa.Boolean(), nullable=False),
    sa.Column('retained_90', sa.Boolean(), nullable=False),
    sa.Column('sessions', sa.Integer(), nullable=False),
    sa.Column('mrr', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_session_rollup_merchant_id_merchant')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_session_rollup')),
    sa.UniqueConstraint('merchant_id', 'day', 'dimensions', name='uq_session_rollup_cell')
    )


def downgrade():
    op.drop_table('session_rollup')
