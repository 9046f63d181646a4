"""SQLite: each CHECK that lists a column's values as IN (…) says it with OR, the same rule at less cost.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from tally.store.migrate import rewrite_sqlite_checks

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":  # PostgreSQL's IN lists cost nothing per row: nothing to change
        rewrite_sqlite_checks(lambda sql, parameters=(): bind.exec_driver_sql(sql, parameters))
