"""FAPI 2.0: private_key_jwt clients, DPoP-bound tokens and codes, pushed requests, used jtis

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 05:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
import consent.types


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_endpoint_auth_method', sa.String(length=32),
                                      nullable=False, server_default='client_secret_basic'))
        batch_op.add_column(sa.Column('jwks', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('jwks_uri', sa.String(length=2000), nullable=True))
    with op.batch_alter_table('oauth_authorization_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dpop_jkt', sa.String(length=64), nullable=True))
    with op.batch_alter_table('oauth_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('jkt', sa.String(length=64), nullable=True))
    op.create_table(
        'oauth_pushed_requests',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('request_uri_hash', sa.LargeBinary(length=32), nullable=False),
        sa.Column('client_id', sa.String(length=64), nullable=False),
        sa.Column('parameters', sa.JSON(), nullable=False),
        sa.Column('expires_at', consent.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('used_at', consent.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('request_uri_hash'),
    )
    op.create_index('ix_oauth_pushed_requests_expires_at', 'oauth_pushed_requests',
                    ['expires_at'])
    op.create_table(
        'oauth_used_jtis',
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('jti_hash', sa.LargeBinary(length=32), nullable=False),
        sa.Column('expires_at', consent.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('kind', 'jti_hash'),
    )
    op.create_index('ix_oauth_used_jtis_expires_at', 'oauth_used_jtis', ['expires_at'])


def downgrade() -> None:
    op.drop_index('ix_oauth_used_jtis_expires_at', table_name='oauth_used_jtis')
    op.drop_table('oauth_used_jtis')
    op.drop_index('ix_oauth_pushed_requests_expires_at', table_name='oauth_pushed_requests')
    op.drop_table('oauth_pushed_requests')
    with op.batch_alter_table('oauth_tokens', schema=None) as batch_op:
        batch_op.drop_column('jkt')
    with op.batch_alter_table('oauth_authorization_codes', schema=None) as batch_op:
        batch_op.drop_column('dpop_jkt')
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.drop_column('jwks_uri')
        batch_op.drop_column('jwks')
        batch_op.drop_column('token_endpoint_auth_method')
