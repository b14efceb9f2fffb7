"""hard12: session capabilities expire with their link, per-user session version, reusable
card-update portal sessions, forgot-password requests handled by the worker

Revision ID: 3c9e51a7d2b4
Revises: c13e0a7f5b21
Create Date: 2026-12-01 23:05:00

"""
import sqlalchemy as sa
from alembic import op

import cancelpage.models

# revision identifiers, used by Alembic.
revision = '3c9e51a7d2b4'
down_revision = 'c13e0a7f5b21'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'password_reset_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('created_at', cancelpage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    # Sessions opened before this revision have no expiry: theirs is created_at + the link lifetime.
    with op.batch_alter_table('cancel_session', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('link_expires_at', cancelpage.models.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table('merchant_user', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('session_version', sa.Integer(), nullable=False, server_default='0')
        )
    with op.batch_alter_table('recovery_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('portal_url_encrypted', sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column('portal_expires_at', cancelpage.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade():
    with op.batch_alter_table('recovery_case', schema=None) as batch_op:
        batch_op.drop_column('portal_expires_at')
        batch_op.drop_column('portal_url_encrypted')
    with op.batch_alter_table('merchant_user', schema=None) as batch_op:
        batch_op.drop_column('session_version')
    with op.batch_alter_table('cancel_session', schema=None) as batch_op:
        batch_op.drop_column('link_expires_at')
    op.drop_table('password_reset_request')
