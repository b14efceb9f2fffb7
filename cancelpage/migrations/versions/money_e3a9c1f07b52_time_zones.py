"""time zones: the merchant's default for customer pages, the browser's per cancel session

Revision ID: e3a9c1f07b52
Revises: d56cddbc96a1
Create Date: 2026-12-02 02:20:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'e3a9c1f07b52'
down_revision = 'd56cddbc96a1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('merchant', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('time_zone', sa.String(length=64), server_default='UTC', nullable=False)
        )
    with op.batch_alter_table('cancel_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('cancel_session', schema=None) as batch_op:
        batch_op.drop_column('time_zone')
    with op.batch_alter_table('merchant', schema=None) as batch_op:
        batch_op.drop_column('time_zone')
