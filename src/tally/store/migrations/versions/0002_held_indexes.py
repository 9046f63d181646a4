"""Transfers by account: the entries for direct transfers, partial indexes for the rest.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from tally.store.schema import POSTGRES_0002, SQLITE_0002

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    statements = POSTGRES_0002 if op.get_bind().dialect.name == "postgresql" else SQLITE_0002
    for statement in statements:
        op.execute(statement)
