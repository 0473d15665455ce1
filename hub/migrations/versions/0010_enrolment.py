"""enrolment: an area's window for new devices to announce themselves; a device's own secret

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("areas") as batch:
        batch.add_column(sa.Column("enrol_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("enrol_secret", sa.String(length=128), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("enrol_secret")
    with op.batch_alter_table("areas") as batch:
        batch.drop_column("enrol_until")
