"""previews marked, experiment ids recorded for all time, status changes from the flow's writes

Revision ID: c13e0a7f5b21
Revises: b7e41c2d9a10
Create Date: 2026-12-01 23:10:00

"""
import sqlalchemy as sa
from alembic import op

from cancelpage.models import UTCDateTime

# revision identifiers, used by Alembic.
revision = 'c13e0a7f5b21'
down_revision = 'b7e41c2d9a10'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cancel_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('preview', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('subscription_status', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=10), server_default='webhook', nullable=False))
    op.create_table(
        'experiment_record',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('merchant_id', sa.Integer(), nullable=False),
        sa.Column('experiment_id', sa.String(length=40), nullable=False),
        sa.Column('definition', sa.JSON(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('merchant_id', 'experiment_id', name='uq_experiment_record_id'),
    )
    # Experiments decided before this revision keep their ids: they cannot be reused either.
    op.execute(
        "INSERT INTO experiment_record (merchant_id, experiment_id, definition, created_at) "
        "SELECT merchant_id, experiment_id, definition, decided_at FROM experiment_decision"
    )


def downgrade():
    op.drop_table('experiment_record')
    with op.batch_alter_table('subscription_status', schema=None) as batch_op:
        batch_op.drop_column('source')
    with op.batch_alter_table('cancel_session', schema=None) as batch_op:
        batch_op.drop_column('preview')
