"""Witness cosignatures: the audit_cosig table.

One row per (size, witness): the cosignature/v1 line a witness returned for the
checkpoint at that size (audit-log-v1, witness cosignatures). ListCheckpoints adds the
lines to the checkpoint's note, so an export carries them to the verifier.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create audit_cosig; on PostgreSQL it is append-only like the other audit tables."""
    op.create_table(
        "audit_cosig",
        sa.Column("log_id", sa.Integer, sa.ForeignKey("audit_log.id"), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("signer", sa.String(255), nullable=False),
        sa.Column("line", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("log_id", "size", "signer"),
    )
    if op.get_bind().dialect.name == "postgresql":  # audit_append_only() is from 0002
        op.execute(
            "CREATE TRIGGER audit_cosig_append_only BEFORE UPDATE OR DELETE ON audit_cosig "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_cosig_no_truncate BEFORE TRUNCATE ON audit_cosig "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
        )


def downgrade() -> None:
    """Drop it."""
    op.drop_table("audit_cosig")
