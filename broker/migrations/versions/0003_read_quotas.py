"""read quotas for frequency-limited consents

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 18:40:00
"""

from alembic import op
import sqlalchemy as sa
import consent.types


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('read_quotas',
    sa.Column('consent_id', sa.String(length=40), nullable=False),
    sa.Column('connector', sa.String(length=64), nullable=False),
    sa.Column('resource', sa.String(length=64), nullable=False),
    sa.Column('window_started_at', consent.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reads', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['consent_id'], ['consents.id'], name=op.f('fk_read_quotas_consent_id_consents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('consent_id', 'connector', 'resource', name=op.f('pk_read_quotas'))
    )


def downgrade() -> None:
    op.drop_table('read_quotas')
