"""process spec keeps its BPMN text (the instance diagram is drawn from the version it runs on)

Revision ID: b7d21e4f0a11
Revises: e1a7c0d9b2f4
Create Date: 2026-12-03 09:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'b7d21e4f0a11'
down_revision = 'e1a7c0d9b2f4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('process_spec', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bpmn_xml', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('process_spec', schema=None) as batch_op:
        batch_op.drop_column('bpmn_xml')
