"""Initial screening record schema, with append-only triggers and the audit chain head.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

APPEND_ONLY_TABLES = ("audit_event", "decision", "allocation")
GENESIS_HASH = "0" * 64


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _enum(*values: str, name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=max(map(len, values)))


def upgrade() -> None:
    """Create every table, index and constraint, the append-only triggers, the chain head."""
    op.create_table(
        "site",
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("secret_fingerprint", sa.String(16), nullable=False),
        sa.Column("registered_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_site")),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "screening_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("pseudonym", sa.String(64), nullable=True),
        sa.Column("site_code", sa.String(32), nullable=True),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            _enum(
                "pending",
                "failed",
                "eligible",
                "screen_failure",
                "deferred",
                "randomised",
                name="casestatus",
            ),
            nullable=False,
        ),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("bclc_stage", sa.String(2), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_code"], ["site.code"], name=op.f("fk_screening_case_site_code_site")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening_case")),
        sa.UniqueConstraint("content_sha256", name=op.f("uq_screening_case_content_sha256")),
    )
    op.create_index(op.f("ix_screening_case_pseudonym"), "screening_case", ["pseudonym"])
    op.create_table(
        "input_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["screening_case.id"], name=op.f("fk_input_file_case_id_screening_case")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_input_file")),
        sa.UniqueConstraint("case_id", "path", name=op.f("uq_input_file_case_id_path")),
    )
    op.create_index(op.f("ix_input_file_case_id"), "input_file", ["case_id"])
    op.create_table(
        "prediction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("probability", sa.Double(), nullable=False),
        sa.Column("threshold", sa.Double(), nullable=False),
        sa.Column("checkpoint_name", sa.String(100), nullable=False),
        sa.Column("checkpoint_version", sa.String(32), nullable=False),
        sa.Column("checkpoint_sha256", sa.String(64), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("device", sa.String(32), nullable=False),
        sa.Column("timings_s", sa.JSON(), nullable=False),
        sa.Column("modalities_used", sa.JSON(), nullable=False),
        sa.Column("modalities_missing", sa.JSON(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["screening_case.id"], name=op.f("fk_prediction_case_id_screening_case")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prediction")),
    )
    op.create_index(op.f("ix_prediction_case_id"), "prediction", ["case_id"])
    op.create_table(
        "saliency_artefact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("prediction_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["screening_case.id"],
            name=op.f("fk_saliency_artefact_case_id_screening_case"),
        ),
        sa.ForeignKeyConstraint(
            ["prediction_id"],
            ["prediction.id"],
            name=op.f("fk_saliency_artefact_prediction_id_prediction"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saliency_artefact")),
    )
    op.create_index(op.f("ix_saliency_artefact_case_id"), "saliency_artefact", ["case_id"])
    op.create_table(
        "criterion_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("criterion_id", sa.String(8), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "status", _enum("pass", "fail", "unknown", name="criterionstatus"), nullable=False
        ),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column(
            "source",
            _enum("entered", "measured", "computed", "model", name="criterionsource"),
            nullable=False,
        ),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["screening_case.id"],
            name=op.f("fk_criterion_result_case_id_screening_case"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_criterion_result")),
        sa.UniqueConstraint(
            "case_id", "criterion_id", name=op.f("uq_criterion_result_case_id_criterion_id")
        ),
    )
    op.create_index(op.f("ix_criterion_result_case_id"), "criterion_result", ["case_id"])
    outcome = ("eligible", "screen_failure", "deferred")
    op.create_table(
        "decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("outcome", _enum(*outcome, name="outcome"), nullable=False),
        sa.Column("failed_criteria", sa.JSON(), nullable=False),
        sa.Column("recommended", _enum(*outcome, name="outcome"), nullable=False),
        sa.Column("overrides_recommendation", sa.Boolean(), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=True),
        sa.Column("reviewer", sa.String(100), nullable=False),
        sa.Column("decided_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["screening_case.id"], name=op.f("fk_decision_case_id_screening_case")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision")),
    )
    op.create_index(op.f("ix_decision_case_id"), "decision", ["case_id"])
    op.create_table(
        "stratum_counter",
        sa.Column("site_code", sa.String(32), nullable=False),
        sa.Column("bclc_stage", sa.String(2), nullable=False),
        sa.Column("next_index", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_code"], ["site.code"], name=op.f("fk_stratum_counter_site_code_site")
        ),
        sa.PrimaryKeyConstraint("site_code", "bclc_stage", name=op.f("pk_stratum_counter")),
    )
    op.create_table(
        "allocation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("site_code", sa.String(32), nullable=False),
        sa.Column("bclc_stage", sa.String(2), nullable=False),
        sa.Column("sequence_index", sa.Integer(), nullable=False),
        sa.Column("arm", sa.String(32), nullable=False),
        sa.Column("scheme", sa.String(100), nullable=False),
        sa.Column("allocated_by", sa.String(100), nullable=False),
        sa.Column("allocated_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["screening_case.id"], name=op.f("fk_allocation_case_id_screening_case")
        ),
        sa.ForeignKeyConstraint(
            ["site_code"], ["site.code"], name=op.f("fk_allocation_site_code_site")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation")),
        sa.UniqueConstraint("case_id", name=op.f("uq_allocation_case_id")),
        sa.UniqueConstraint(
            "site_code",
            "bclc_stage",
            "sequence_index",
            name=op.f("uq_allocation_site_code_bclc_stage_sequence_index"),
        ),
    )
    op.create_table(
        "audit_event",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("occurred_at", _utc(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("field", sa.String(64), nullable=True),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["screening_case.id"], name=op.f("fk_audit_event_case_id_screening_case")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_event_hash")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_event_prev_hash")),
    )
    op.create_index("ix_audit_event_case_id_seq", "audit_event", ["case_id", "seq"])
    op.execute(
        sa.text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :genesis)").bindparams(
            genesis=GENESIS_HASH
        )
    )
    _create_append_only_guards()
    _create_chain_head_triggers()


def _create_chain_head_triggers() -> None:
    """Let the database itself refuse an event that does not extend the chain, and move the
    head to each new event."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER audit_event_extends_chain BEFORE INSERT ON audit_event "
            "WHEN NEW.seq != (SELECT seq + 1 FROM audit_head WHERE id = 1) "
            "OR NEW.prev_hash != (SELECT hash FROM audit_head WHERE id = 1) "
            "BEGIN SELECT RAISE(ABORT, 'audit_event must extend the chain head'); END"
        )
        op.execute(
            "CREATE TRIGGER audit_event_moves_head AFTER INSERT ON audit_event "
            "BEGIN UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 1; END"
        )
        return
    op.execute(
        """
        CREATE FUNCTION neoadj_extend_chain() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash
                WHERE id = 1 AND seq + 1 = NEW.seq AND hash = NEW.prev_hash;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'audit_event must extend the chain head'
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_event_extends_chain BEFORE INSERT ON audit_event "
        "FOR EACH ROW EXECUTE FUNCTION neoadj_extend_chain()"
    )
    op.execute("ALTER TABLE audit_event ENABLE ALWAYS TRIGGER audit_event_extends_chain")


def _create_append_only_guards() -> None:
    """Make the database refuse UPDATE and DELETE (and TRUNCATE) on the append-only tables."""
    if op.get_bind().dialect.name == "sqlite":
        for table in APPEND_ONLY_TABLES:
            for operation in ("update", "delete"):
                op.execute(
                    f"CREATE TRIGGER {table}_append_only_{operation} "
                    f"BEFORE {operation.upper()} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: "
                    f"{operation.upper()} is forbidden'); END"
                )
        return
    op.execute(
        """
        CREATE FUNCTION neoadj_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % is forbidden', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    for table in APPEND_ONLY_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION neoadj_forbid_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION neoadj_forbid_change()"
        )
        # ALWAYS: also fires under session_replication_role = replica.
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_append_only")
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_append_only_truncate")


def downgrade() -> None:
    """Drop everything (the screening record is lost)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER audit_event_extends_chain")
        op.execute("DROP TRIGGER audit_event_moves_head")
        for table in APPEND_ONLY_TABLES:
            for operation in ("update", "delete"):
                op.execute(f"DROP TRIGGER {table}_append_only_{operation}")
    for table in (
        "audit_event",
        "allocation",
        "stratum_counter",
        "decision",
        "criterion_result",
        "saliency_artefact",
        "prediction",
        "input_file",
        "screening_case",
        "audit_head",
        "site",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION neoadj_forbid_change()")
        op.execute("DROP FUNCTION neoadj_extend_chain()")
