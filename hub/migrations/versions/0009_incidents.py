"""incidents: outages that began together, one alert; summary deliveries over a recipient's cap

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "incidents",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("alerted", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("alert_notification_id", BIG_ID, nullable=True),
        sa.Column("recovery_notification_id", BIG_ID, nullable=True),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["alert_notification_id"], ["notifications.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["recovery_notification_id"], ["notifications.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incidents_area", "incidents", ["area_id", "id"])
    op.create_index("ix_incidents_open", "incidents", ["ended_at"])
    with op.batch_alter_table("camera_outages") as batch:
        batch.add_column(sa.Column("incident_id", BIG_ID, nullable=True))
        batch.create_foreign_key(
            "fk_camera_outages_incident", "incidents", ["incident_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_index("ix_camera_outages_incident", ["incident_id"])
    with op.batch_alter_table("notification_deliveries") as batch:
        batch.add_column(sa.Column("folded", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("notification_deliveries") as batch:
        batch.drop_column("folded")
    with op.batch_alter_table("camera_outages") as batch:
        batch.drop_index("ix_camera_outages_incident")
        batch.drop_constraint("fk_camera_outages_incident", type_="foreignkey")
        batch.drop_column("incident_id")
    op.drop_index("ix_incidents_open", table_name="incidents")
    op.drop_index("ix_incidents_area", table_name="incidents")
    op.drop_table("incidents")
