"""recovery case index for analytics (failed-payment figures by merchant, kind and date)

Revision ID: a54b6de88c0d
Revises: 9ffeb32ef2cb
Create Date: 2026-11-26 00:50:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a54b6de88c0d'
down_revision = '9ffeb32ef2cb'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('recovery_case', schema=None) as batch_op:
        batch_op.create_index('ix_recovery_case_opened', ['merchant_id', 'kind', 'opened_at'], unique=False)


def downgrade():
    with op.batch_alter_table('recovery_case', schema=None) as batch_op:
        batch_op.drop_index('ix_recovery_case_opened')
