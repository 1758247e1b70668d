"""Classification: loaded edition tables and their disciplines.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the edition-load history and the disciplines of each load."""
    op.create_table(
        "classification_edition_load",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("edition_id", sa.String(length=32), nullable=False),
        sa.Column("table_sha256", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("discipline_count", sa.Integer(), nullable=False),
        sa.Column("defects_json", sa.Text(), nullable=False),
        sa.Column("loaded_at_ms", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("edition_id", "table_sha256"),
    )
    op.create_index(
        "ix_classification_edition_load_edition_id",
        "classification_edition_load",
        ["edition_id"],
    )
    op.create_table(
        "classification_discipline",
        sa.Column(
            "load_id",
            sa.Integer(),
            sa.ForeignKey("classification_edition_load.id"),
            primary_key=True,
        ),
        sa.Column("code", sa.String(length=16), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("parent_code", sa.String(length=16), nullable=True),
    )


def downgrade() -> None:
    """Drop the classification tables."""
    op.drop_table("classification_discipline")
    op.drop_index(
        "ix_classification_edition_load_edition_id", table_name="classification_edition_load"
    )
    op.drop_table("classification_edition_load")
