"""merchant portal configuration: the cancelpage-owned Stripe portal configuration, its settings
and the last check against Stripe

Revision ID: c4e1a7f20b93
Revises: 3b7e51c0d9a4
Create Date: 2026-12-01 23:00:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'c4e1a7f20b93'
down_revision = '3b7e51c0d9a4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('merchant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('portal_configuration_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('portal_settings', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('portal_check', sa.JSON(), nullable=False, server_default='{}'))
    # The server defaults only fill existing rows; the model supplies the value from now on.
    with op.batch_alter_table('merchant', schema=None) as batch_op:
        batch_op.alter_column('portal_settings', server_default=None)
        batch_op.alter_column('portal_check', server_default=None)


def downgrade():
    with op.batch_alter_table('merchant', schema=None) as batch_op:
        batch_op.drop_column('portal_check')
        batch_op.drop_column('portal_settings')
        batch_op.drop_column('portal_configuration_id')
