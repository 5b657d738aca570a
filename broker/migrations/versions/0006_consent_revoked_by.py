"""consents: who withdrew a consent (the citizen, a parent, an erasure, or the service itself)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 05:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked_by', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_column('revoked_by')
