"""The journal, the head of its hash chain, and the tables derived from it.

Revision ID: 0001
Revises:
"""

from alembic import op

from tally.store.schema import POSTGRES_0001, SQLITE_0001

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    statements = POSTGRES_0001 if op.get_bind().dialect.name == "postgresql" else SQLITE_0001
    for statement in statements:
        op.execute(statement)
