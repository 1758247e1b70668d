"""Discipline codes compare by bytes on PostgreSQL (COLLATE "C").

A requested code matches as the range [code, code with its last character incremented):
that holds only under byte order. A database created with a locale collation (for
example zh_CN.UTF-8 or an ICU one) sorts ``:`` or ``[`` elsewhere and the range would
silently miss experts. SQLite compares text by bytes (BINARY) already.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Give expert_discipline.code the byte-order collation on PostgreSQL."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute('ALTER TABLE expert_discipline ALTER COLUMN code TYPE VARCHAR(16) COLLATE "C"')


def downgrade() -> None:
    """Back to the database's default collation."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE expert_discipline ALTER COLUMN code TYPE VARCHAR(16)")
