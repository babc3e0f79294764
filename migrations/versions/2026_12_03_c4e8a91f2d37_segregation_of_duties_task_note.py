"""segregation of duties: human task keeps why it was rerouted and the authors excluded from signing it

Revision ID: c4e8a91f2d37
Revises: c4a9e2d7f318
Create Date: 2026-12-03 12:40:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = 'c4e8a91f2d37'
down_revision = 'c4a9e2d7f318'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assignment_note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch_op.add_column(sa.Column('excluded_user_ids', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_column('excluded_user_ids')
        batch_op.drop_column('assignment_note')
