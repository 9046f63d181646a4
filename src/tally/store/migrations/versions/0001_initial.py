"""The journal, the head of its hash chain, and the tables derived from it.

Revision ID: 0001
Revises:
"""

from tally.store.migrate import execute_ddl
from tally.store.schema import POSTGRES_0001, SQLITE_0001

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_ddl(POSTGRES_0001, SQLITE_0001)
