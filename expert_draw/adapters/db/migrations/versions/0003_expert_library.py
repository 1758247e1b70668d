"""Expert library: records, disciplines, affiliations, salts, status periods, credit events.

Personal fields are AES-GCM ciphertexts (expert_draw.adapters.protection).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _expert_id() -> sa.Column[int]:
    return sa.Column(
        "expert_id", sa.Integer(), sa.ForeignKey("expert.id"), primary_key=True, autoincrement=False
    )


def upgrade() -> None:
    """Create the expert tables."""
    op.create_table(
        "expert",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False, unique=True),
        sa.Column("id_hash", sa.String(100), nullable=False, unique=True),
        sa.Column("full_name_enc", sa.LargeBinary(), nullable=True),
        sa.Column("resident_id_enc", sa.LargeBinary(), nullable=True),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=True),
        sa.Column("email_enc", sa.LargeBinary(), nullable=True),
        sa.Column("profile", sa.Text(), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("legacy_only", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("create_ms", sa.BigInteger(), nullable=False),
        sa.Column("update_ms", sa.BigInteger(), nullable=False),
        sa.Column("delete_ms", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_expert_state_region", "expert", ["state", "region_code"])
    op.create_table(
        "expert_discipline",
        _expert_id(),
        sa.Column("edition_id", sa.String(32), primary_key=True),
        sa.Column("code", sa.String(16), primary_key=True),
    )
    op.create_index("ix_expert_discipline_code", "expert_discipline", ["edition_id", "code"])
    op.create_table(
        "expert_affiliation",
        _expert_id(),
        sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("organization_code", sa.String(18), nullable=False),
        sa.Column("organization_name", sa.String(128), nullable=False),
        sa.Column("start_date", sa.String(10), nullable=False),
        sa.Column("end_date", sa.String(10), nullable=True),
    )
    op.create_index("ix_expert_affiliation_org", "expert_affiliation", ["organization_code"])
    op.create_table(
        "expert_salt",
        _expert_id(),
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("salts_enc", sa.LargeBinary(), nullable=True),
    )

    op.create_table(
        "expert_status_period",
        _expert_id(),
        sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "expert_credit_event",
        _expert_id(),
        sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("evidence_sha256", sa.String(64), nullable=False),
        sa.Column("event_ms", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    """Drop the expert tables."""
    tables = ("expert_credit_event", "expert_status_period", "expert_salt",
              "expert_affiliation", "expert_discipline")  # fmt: skip
    for table in tables:
        op.drop_table(table)
    op.drop_index("ix_expert_state_region", "expert")
    op.drop_table("expert")
