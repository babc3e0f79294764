"""sign-in sessions: logout and deactivation end a page session and its remember-me cookie for good

Revision ID: c3a9e5d17b20
Revises: b7d21e4f0a11
Create Date: 2026-12-03 12:50:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = 'c3a9e5d17b20'
down_revision = 'b7d21e4f0a11'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sign_in_session',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('remember', sa.Boolean(), nullable=False),
        sa.Column('ended_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('end_reason', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key_hash'),
    )
    op.create_index('ix_sign_in_session_user_id', 'sign_in_session', ['user_id'])


def downgrade() -> None:
    op.drop_index('ix_sign_in_session_user_id', table_name='sign_in_session')
    op.drop_table('sign_in_session')
