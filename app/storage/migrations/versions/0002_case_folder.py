"""The case folder a case was imported from, so that the worklist can open it again.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the nullable ``screening_case.folder`` (cases recorded before have none)."""
    op.add_column("screening_case", sa.Column("folder", sa.String(1024), nullable=True))


def downgrade() -> None:
    """Drop ``screening_case.folder``."""
    op.drop_column("screening_case", "folder")
