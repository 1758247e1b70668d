"""Audit log: entries, perfect nodes, checkpoints, the head row, request outcomes.

The tables are audit_log.sqlstore's Core tables. On PostgreSQL, triggers make the
entry, node, checkpoint and request tables append-only (defence in depth: superusers
and ``session_replication_role = replica`` bypass them; detection is the verifier's job).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

APPEND_ONLY = ("audit_entry", "audit_node", "audit_checkpoint", "audit_request")


def _log_id(*, primary_key: bool = False) -> sa.Column[int]:
    return sa.Column(
        "log_id",
        sa.Integer(),
        sa.ForeignKey("audit_log.id"),
        primary_key=primary_key,
        nullable=False,
        autoincrement=False,
    )


def upgrade() -> None:
    """Create the audit tables; on PostgreSQL add the append-only triggers."""
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("origin", sa.String(255), nullable=False, unique=True),
        sa.Column("hash_alg", sa.String(16), nullable=False),
        sa.Column("format_v", sa.Integer(), nullable=False),
    )
    op.create_table(
        "audit_head",
        _log_id(primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("last_leaf", sa.LargeBinary(32), nullable=False),
        sa.Column("compact", sa.LargeBinary(), nullable=False),
        sa.Column("last_ts", sa.BigInteger(), nullable=False),
        sa.Column("checkpoint_size", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "audit_entry",
        _log_id(),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("req", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subj", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("log_id", "seq"),
        sa.UniqueConstraint("log_id", "req"),
        sa.CheckConstraint("seq >= 0", name="ck_audit_entry_seq"),
    )
    op.create_index("ix_audit_entry_subj", "audit_entry", ["log_id", "subj"])
    op.create_index("ix_audit_entry_kind", "audit_entry", ["log_id", "kind"])
    op.create_table(
        "audit_node",
        _log_id(),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("log_id", "level", "idx"),
    )
    op.create_table(
        "audit_checkpoint",
        _log_id(),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("log_id", "size"),
    )
    op.create_table(
        "audit_request",
        _log_id(),
        sa.Column("principal", sa.String(40), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("payload_sha256", sa.String(64), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("log_id", "principal", "request_id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'audit table % is append-only', TG_TABLE_NAME; END $$"
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
            )


def downgrade() -> None:
    """Drop the audit tables (and the PostgreSQL triggers with them)."""
    for table in ("audit_request", "audit_checkpoint", "audit_node"):
        op.drop_table(table)
    op.drop_index("ix_audit_entry_kind", table_name="audit_entry")
    op.drop_index("ix_audit_entry_subj", table_name="audit_entry")
    op.drop_table("audit_entry")
    op.drop_table("audit_head")
    op.drop_table("audit_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_append_only()")
