"""A session's final write stores its intent and attempt number (issue 12: the write protocol).

Revision ID: b7e41c2d9a10
Revises: a54b6de88c0d
Create Date: 2026-12-01 23:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

revision = 'b7e41c2d9a10'
down_revision = 'a54b6de88c0d'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('stripe_write', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempt', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('intent', sa.JSON(none_as_null=True), nullable=True))


def downgrade():
    with op.batch_alter_table('stripe_write', schema=None) as batch_op:
        batch_op.drop_column('intent')
        batch_op.drop_column('attempt')
