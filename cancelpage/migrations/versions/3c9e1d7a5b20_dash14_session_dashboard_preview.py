"""cancel_session.dashboard_preview: sessions opened by the dashboard's preview are not data

Revision ID: 3c9e1d7a5b20
Revises: b7e41c2d9a10
Create Date: 2026-12-01 23:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '3c9e1d7a5b20'
down_revision = 'b7e41c2d9a10'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cancel_session', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('dashboard_preview', sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade():
    with op.batch_alter_table('cancel_session', schema=None) as batch_op:
        batch_op.drop_column('dashboard_preview')
