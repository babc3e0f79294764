"""history append-only: triggers refuse UPDATE and DELETE on activity_entry

Revision ID: e1a7c0d9b2f4
Revises: 224ff1d7d6cc
Create Date: 2026-11-22 04:50:00
"""
from alembic import op

from cmsflow.history import guard

revision = 'e1a7c0d9b2f4'
down_revision = '224ff1d7d6cc'
branch_labels = None
depends_on = None


def upgrade() -> None:
    guard.install(op.get_bind())


def downgrade() -> None:
    guard.remove(op.get_bind())
