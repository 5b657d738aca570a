"""wallet sessions: the browser and system in a few words, and when last active

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 04:30:00.000000
"""

from alembic import op
import sqlalchemy as sa
import consent.types


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('wallet_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_seen_at', consent.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('browser', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('system', sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('wallet_sessions', schema=None) as batch_op:
        batch_op.drop_column('system')
        batch_op.drop_column('browser')
        batch_op.drop_column('last_seen_at')
