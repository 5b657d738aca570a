"""wallet: erasure requests, notifications, guardianships

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 21:45:01.046495
"""

from alembic import op
import sqlalchemy as sa
import consent.types


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_cursors',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('position', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_job_cursors'))
    )
    op.create_table('guardianships',
    sa.Column('guardian_subject_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ward_subject_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('started_at', consent.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', consent.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', consent.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['guardian_subject_id'], ['subjects.id'], name=op.f('fk_guardianships_guardian_subject_id_subjects')),
    sa.ForeignKeyConstraint(['ward_subject_id'], ['subjects.id'], name=op.f('fk_guardianships_ward_subject_id_subjects')),
    sa.PrimaryKeyConstraint('guardian_subject_id', 'ward_subject_id', name=op.f('pk_guardianships'))
    )
    with op.batch_alter_table('guardianships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guardianships_ward_subject_id'), ['ward_subject_id'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('subject_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('dedupe_key', sa.String(length=128), nullable=False),
    sa.Column('consent_id', sa.String(length=40), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('created_at', consent.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', consent.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('email_state', sa.String(length=16), nullable=False),
    sa.Column('email_attempts', sa.Integer(), nullable=False),
    sa.Column('emailed_at', consent.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_notifications_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('subject_id', 'dedupe_key', name=op.f('uq_notifications_subject_id'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_email_state', ['email_state'], unique=False)
        batch_op.create_index('ix_notifications_subject_created', ['subject_id', 'created_at'], unique=False)

    op.create_table('erasure_requests',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('consent_id', sa.String(length=40), nullable=False),
    sa.Column('service_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('requested_at', consent.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ledger_index', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('acknowledged_at', consent.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_ledger_index', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['consent_id'], ['consents.id'], name=op.f('fk_erasure_requests_consent_id_consents')),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_erasure_requests_service_id_services')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erasure_requests'))
    )
    with op.batch_alter_table('erasure_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_erasure_requests_consent_id'), ['consent_id'], unique=False)
        batch_op.create_index('ix_erasure_requests_service_pending', ['service_id', 'acknowledged_at'], unique=False)

    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decided_by_subject_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_consents_decided_by_subject_id_subjects'), 'subjects', ['decided_by_subject_id'], ['id'])

    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_receipts_consent_id'), type_='unique')

    with op.batch_alter_table('subjects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_ciphertext', sa.LargeBinary(length=512), nullable=True))

    # Services registered before may now acknowledge erasure requests (client credentials,
    # scope erasure:manage), as consent.catalogue.register_service grants new ones.
    services = sa.table('services', sa.column('id', sa.Integer), sa.column('kind', sa.String),
                        sa.column('grant_types', sa.JSON), sa.column('scope', sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(services.c.id, services.c.grant_types, services.c.scope)
                              .where(services.c.kind == 'service')).all()
    for service_id, grant_types, scope in rows:
        connection.execute(
            services.update().where(services.c.id == service_id).values(
                grant_types=[*dict.fromkeys([*(grant_types or []), 'client_credentials'])],
                scope=' '.join(sorted({*(scope or '').split(), 'erasure:manage'})),
            )
        )



def downgrade() -> None:
    with op.batch_alter_table('subjects', schema=None) as batch_op:
        batch_op.drop_column('email_ciphertext')

    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_receipts_consent_id'), ['consent_id', 'kind'])

    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_consents_decided_by_subject_id_subjects'), type_='foreignkey')
        batch_op.drop_column('decided_by_subject_id')

    with op.batch_alter_table('erasure_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_erasure_requests_service_pending')
        batch_op.drop_index(batch_op.f('ix_erasure_requests_consent_id'))

    op.drop_table('erasure_requests')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_subject_created')
        batch_op.drop_index('ix_notifications_email_state')

    op.drop_table('notifications')
    with op.batch_alter_table('guardianships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guardianships_ward_subject_id'))

    op.drop_table('guardianships')
    op.drop_table('job_cursors')
