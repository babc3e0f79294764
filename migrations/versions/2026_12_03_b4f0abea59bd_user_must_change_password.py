"""user_account.must_change_password: a password set by an administrator is temporary

Revision ID: b4f0abea59bd
Revises: c4e8a91f2d37
Create Date: 2026-12-03 13:30:00

Set when an administrator resets a password on /admin/users (or ``set-password --temporary``), cleared when the
user changes it; while set, the pages send the user to /account and the API issues no token (OWASP ASVS 4.0.3
2.1.x/2.5; 21 CFR Part 11 §11.300(b)). Existing accounts: false.
"""
import sqlalchemy as sa
from alembic import op

revision = 'b4f0abea59bd'
down_revision = 'c4e8a91f2d37'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN with a literal default: batch mode would rebuild user_account on SQLite (DROP TABLE), which
    # the foreign keys of every table pointing at users refuse on a database with data. '0' is false on both.
    op.add_column('user_account', sa.Column('must_change_password', sa.Boolean(), nullable=False,
                                            server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('user_account') as batch:
        batch.drop_column('must_change_password')
