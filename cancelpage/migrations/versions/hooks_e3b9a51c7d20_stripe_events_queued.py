"""stripe events stored raw on receipt and processed by the worker (status, lease, retries)

Revision ID: e3b9a51c7d20
Revises: d56cddbc96a1
Create Date: 2026-12-02 02:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import cancelpage.models  # custom column types (UTCDateTime)

# revision identifiers, used by Alembic.
revision = 'e3b9a51c7d20'
down_revision = 'd56cddbc96a1'
branch_labels = None
depends_on = None


def upgrade():
    # Events stored before this revision were processed in their request: they stay processed.
    with op.batch_alter_table('stripe_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payload', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('status', sa.String(length=20), nullable=False, server_default='processed'))
        batch_op.add_column(sa.Column('due_at', cancelpage.models.UTCDateTime(timezone=True), nullable=False, server_default=sa.func.current_timestamp()))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('last_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('claim_token', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('claimed_until', cancelpage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('processed_at', cancelpage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.alter_column('outcome', existing_type=sa.String(length=200), nullable=True)
        batch_op.create_index(batch_op.f('ix_stripe_event_claim_token'), ['claim_token'], unique=False)
        batch_op.create_index('ix_stripe_event_due', ['status', 'due_at'], unique=False)


def downgrade():
    # Events not processed yet would be lost with their payload: give them an outcome first.
    op.execute("UPDATE stripe_event SET outcome = 'not processed: downgraded' WHERE outcome IS NULL")
    with op.batch_alter_table('stripe_event', schema=None) as batch_op:
        batch_op.drop_index('ix_stripe_event_due')
        batch_op.drop_index(batch_op.f('ix_stripe_event_claim_token'))
        batch_op.alter_column('outcome', existing_type=sa.String(length=200), nullable=False)
        batch_op.drop_column('processed_at')
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('claim_token')
        batch_op.drop_column('last_error')
        batch_op.drop_column('attempts')
        batch_op.drop_column('due_at')
        batch_op.drop_column('status')
        batch_op.drop_column('payload')
