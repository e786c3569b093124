"""adjudication: final values, their history, and the adjudicator right

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 09:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    # A server default fills the existing rows: nobody had the right before this column.
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('can_adjudicate', sa.Boolean(), server_default=sa.false(), nullable=False))

    op.create_table('final_value',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('codebook_version_id', sa.Integer(), nullable=False),
    sa.Column('variable', sa.String(length=100), nullable=False),
    sa.Column('value', sa.JSON(), nullable=True),
    sa.Column('source_coder_id', sa.Integer(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['codebook_version_id'], ['codebook_version.id'], name=op.f('fk_final_value_codebook_version_id_codebook_version')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_final_value_decided_by_id_user')),
    sa.ForeignKeyConstraint(['document_id'], ['document.id'], name=op.f('fk_final_value_document_id_document')),
    sa.ForeignKeyConstraint(['source_coder_id'], ['user.id'], name=op.f('fk_final_value_source_coder_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_final_value')),
    sa.UniqueConstraint('document_id', 'codebook_version_id', 'variable', name=op.f('uq_final_value_document_id_codebook_version_id_variable'))
    )
    op.create_table('final_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('codebook_version_id', sa.Integer(), nullable=False),
    sa.Column('variable', sa.String(length=100), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('action', sa.String(length=30), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('source_coder_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['codebook_version_id'], ['codebook_version.id'], name=op.f('fk_final_event_codebook_version_id_codebook_version')),
    sa.ForeignKeyConstraint(['document_id'], ['document.id'], name=op.f('fk_final_event_document_id_document')),
    sa.ForeignKeyConstraint(['source_coder_id'], ['user.id'], name=op.f('fk_final_event_source_coder_id_user')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_final_event_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_final_event'))
    )
    with op.batch_alter_table('final_event', schema=None) as batch_op:
        batch_op.create_index('ix_final_event_document_id_at', ['document_id', 'at'], unique=False)


def downgrade():
    with op.batch_alter_table('final_event', schema=None) as batch_op:
        batch_op.drop_index('ix_final_event_document_id_at')

    op.drop_table('final_event')
    op.drop_table('final_value')
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('can_adjudicate')
