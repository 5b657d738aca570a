"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 15:37:23.279598
"""

from alembic import op
import sqlalchemy as sa
import consent.types


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ledger_entries',
    sa.Column('index', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('consent_id', sa.String(length=40), nullable=True),
    sa.Column('service_client_id', sa.String(length=64), nullable=True),
    sa.Column('recorded_at', consent.types.UTCDateTime(), nullable=False),
    sa.Column('entry', sa.Text(), nullable=False),
    sa.Column('leaf_hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('index', name=op.f('pk_ledger_entries'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_entries_consent_id'), ['consent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_entries_recorded_at'), ['recorded_at'], unique=False)

    op.create_table('ledger_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('size', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_head'))
    )
    # The ledger starts empty; appends increment this single row (consent/ledger/entries.py).
    op.bulk_insert(sa.table("ledger_head", sa.column("id", sa.Integer), sa.column("size", sa.BigInteger)),
                   [{"id": 1, "size": 0}])
    op.create_table('purposes',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name_bg', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('description_bg', sa.Text(), nullable=False),
    sa.Column('description_en', sa.Text(), nullable=False),
    sa.Column('legal_basis', sa.String(length=64), nullable=False),
    sa.Column('dpv_iri', sa.String(length=255), nullable=False),
    sa.Column('default_duration', sa.String(length=32), nullable=False),
    sa.Column('max_duration', sa.String(length=32), nullable=False),
    sa.Column('retention', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_purposes'))
    )
    op.create_table('subjects',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('national_id_ciphertext', sa.LargeBinary(length=256), nullable=True),
    sa.Column('national_id_index', sa.LargeBinary(length=32), nullable=True),
    sa.Column('pseudonym_key_ciphertext', sa.LargeBinary(length=256), nullable=True),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('created_at', consent.types.UTCDateTime(), nullable=False),
    sa.Column('erased_at', consent.types.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subjects')),
    sa.UniqueConstraint('national_id_index', name=op.f('uq_subjects_national_id_index')),
    sa.UniqueConstraint('username', name=op.f('uq_subjects_username'))
    )
    op.create_table('wallet_sign_in_failures',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('at', consent.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wallet_sign_in_failures'))
    )
    with op.batch_alter_table('wallet_sign_in_failures', schema=None) as batch_op:
        batch_op.create_index('ix_wallet_sign_in_failures_key_at', ['key', 'at'], unique=False)

    op.create_table('services',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('client_secret_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name_bg', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('organisation', sa.String(length=200), nullable=False),
    sa.Column('redirect_uris', sa.JSON(), nullable=False),
    sa.Column('grant_types', sa.JSON(), nullable=False),
    sa.Column('scope', sa.String(length=255), nullable=False),
    sa.Column('default_purpose', sa.String(length=64), nullable=True),
    sa.Column('sandbox', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', consent.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['default_purpose'], ['purposes.code'], name=op.f('fk_services_default_purpose_purposes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_services')),
    sa.UniqueConstraint('client_id', name=op.f('uq_services_client_id'))
    )
    op.create_table('wallet_sessions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('subject_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', consent.types.UTCDateTime(), nullable=False),
    sa.Column('expires_at', consent.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_wallet_sessions_subject_id_subjects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wallet_sessions')),
    sa.UniqueConstraint('id_hash', name=op.f('uq_wallet_sessions_id_hash'))
    )
    with op.batch_alter_table('wallet_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wallet_sessions_subject_id'), ['subject_id'], unique=False)

    op.create_table('consents',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('subject_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('service_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('purpose_code', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.JSON(), nullable=False),
    sa.Column('duration', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('subject_pairwise', sa.String(length=64), nullable=False),
    sa.Column('subject_pseudonym', sa.String(length=64), nullable=False),
    sa.Column('requested_at', consent.types.UTCDateTime(), nullable=False),
    sa.Column('decided_at', consent.types.UTCDateTime(), nullable=True),
    sa.Column('expires_at', consent.types.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', consent.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['purpose_code'], ['purposes.code'], name=op.f('fk_consents_purpose_code_purposes')),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_consents_service_id_services')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_consents_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consents'))
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consents_service_id'), ['service_id'], unique=False)
        batch_op.create_index('ix_consents_status_expires', ['status', 'expires_at'], unique=False)
        batch_op.create_index('ix_consents_subject_status', ['subject_id', 'status'], unique=False)

    op.create_table('service_purposes',
    sa.Column('service_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('purpose_code', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['purpose_code'], ['purposes.code'], name=op.f('fk_service_purposes_purpose_code_purposes')),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_service_purposes_service_id_services'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('service_id', 'purpose_code', name=op.f('pk_service_purposes'))
    )
    op.create_table('oauth_authorization_codes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('code_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('subject_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('consent_id', sa.String(length=40), nullable=False),
    sa.Column('redirect_uri', sa.String(length=2000), nullable=False),
    sa.Column('code_challenge', sa.String(length=128), nullable=False),
    sa.Column('code_challenge_method', sa.String(length=8), nullable=False),
    sa.Column('issued_at', consent.types.UTCDateTime(), nullable=False),
    sa.Column('expires_at', consent.types.UTCDateTime(), nullable=False),
    sa.Column('used_at', consent.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['consent_id'], ['consents.id'], name=op.f('fk_oauth_authorization_codes_consent_id_consents')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_oauth_authorization_codes_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_authorization_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_oauth_authorization_codes_code_hash'))
    )
    op.create_table('receipts',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('consent_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('issued_at', consent.types.UTCDateTime(), nullable=False),
    sa.Column('ledger_index', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('jws', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['consent_id'], ['consents.id'], name=op.f('fk_receipts_consent_id_consents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receipts')),
    sa.UniqueConstraint('consent_id', 'kind', name=op.f('uq_receipts_consent_id'))
    )
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_receipts_consent_id'), ['consent_id'], unique=False)

    op.create_table('oauth_tokens',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('access_token_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('refresh_token_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('subject_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('consent_id', sa.String(length=40), nullable=True),
    sa.Column('authorization_code_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('family_id', sa.String(length=40), nullable=False),
    sa.Column('scope', sa.String(length=255), nullable=False),
    sa.Column('authorization_details', sa.JSON(), nullable=True),
    sa.Column('issued_at', consent.types.UTCDateTime(), nullable=False),
    sa.Column('access_expires_at', consent.types.UTCDateTime(), nullable=False),
    sa.Column('refresh_expires_at', consent.types.UTCDateTime(), nullable=True),
    sa.Column('refresh_used_at', consent.types.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', consent.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['authorization_code_id'], ['oauth_authorization_codes.id'], name=op.f('fk_oauth_tokens_authorization_code_id_oauth_authorization_codes')),
    sa.ForeignKeyConstraint(['consent_id'], ['consents.id'], name=op.f('fk_oauth_tokens_consent_id_consents')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_oauth_tokens_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_tokens')),
    sa.UniqueConstraint('access_token_hash', name=op.f('uq_oauth_tokens_access_token_hash')),
    sa.UniqueConstraint('refresh_token_hash', name=op.f('uq_oauth_tokens_refresh_token_hash'))
    )
    with op.batch_alter_table('oauth_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_tokens_authorization_code_id'), ['authorization_code_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oauth_tokens_consent_id'), ['consent_id'], unique=False)
        batch_op.create_index('ix_oauth_tokens_family', ['family_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('oauth_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_oauth_tokens_family')
        batch_op.drop_index(batch_op.f('ix_oauth_tokens_consent_id'))
        batch_op.drop_index(batch_op.f('ix_oauth_tokens_authorization_code_id'))

    op.drop_table('oauth_tokens')
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_receipts_consent_id'))

    op.drop_table('receipts')
    op.drop_table('oauth_authorization_codes')
    op.drop_table('service_purposes')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index('ix_consents_subject_status')
        batch_op.drop_index('ix_consents_status_expires')
        batch_op.drop_index(batch_op.f('ix_consents_service_id'))

    op.drop_table('consents')
    with op.batch_alter_table('wallet_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wallet_sessions_subject_id'))

    op.drop_table('wallet_sessions')
    op.drop_table('services')
    with op.batch_alter_table('wallet_sign_in_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_wallet_sign_in_failures_key_at')

    op.drop_table('wallet_sign_in_failures')
    op.drop_table('subjects')
    op.drop_table('purposes')
    op.drop_table('ledger_head')
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_entries_recorded_at'))
        batch_op.drop_index(batch_op.f('ix_ledger_entries_consent_id'))

    op.drop_table('ledger_entries')
