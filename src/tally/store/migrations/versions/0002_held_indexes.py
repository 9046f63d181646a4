"""Transfers by account: the entries for direct transfers, partial indexes for the rest.

Revision ID: 0002
Revises: 0001
"""

from tally.store.migrate import execute_ddl
from tally.store.schema import POSTGRES_0002, SQLITE_0002

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_ddl(POSTGRES_0002, SQLITE_0002)
