"""merkle tree nodes and signed tree heads

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 16:21:04.393494
"""

from alembic import op
import sqlalchemy as sa
import consent.types


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Auditors filter entries by purpose; the column repeats the entry's own "purpose".
    with op.batch_alter_table("ledger_entries") as batch_op:
        batch_op.add_column(sa.Column("purpose", sa.String(length=64), nullable=True))
    op.create_table('ledger_nodes',
    sa.Column('level', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('index', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('level', 'index', name=op.f('pk_ledger_nodes'))
    )
    op.create_table('ledger_tree',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('size', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_tree'))
    )
    op.bulk_insert(sa.table("ledger_tree", sa.column("id", sa.Integer), sa.column("size", sa.BigInteger)),
                   [{"id": 1, "size": 0}])
    op.create_table('tree_heads',
    sa.Column('tree_size', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('root_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('timestamp', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.LargeBinary(length=64), nullable=False),
    sa.PrimaryKeyConstraint('tree_size', name=op.f('pk_tree_heads'))
    )


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries") as batch_op:
        batch_op.drop_column("purpose")
    op.drop_table('tree_heads')
    op.drop_table('ledger_tree')
    op.drop_table('ledger_nodes')
