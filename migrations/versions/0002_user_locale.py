"""user locale: each person's interface language

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 10:12:05.318204

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable, and no backfill: None means "follow the browser", which is what everyone
    # did before this column existed.
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=20), nullable=True))


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('locale')
