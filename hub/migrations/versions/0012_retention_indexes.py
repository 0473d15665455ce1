"""retention: index the columns that point at notifications, so purging notifications stays cheap

Deleting a notification makes the database find the incidents and camera outages that point at
it (ON DELETE SET NULL); without these indexes that is a scan of both tables per deleted row.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("ix_incidents_alert_notification", "incidents", "alert_notification_id"),
    ("ix_incidents_recovery_notification", "incidents", "recovery_notification_id"),
    ("ix_camera_outages_alert_notification", "camera_outages", "alert_notification_id"),
    ("ix_camera_outages_recovery_notification", "camera_outages", "recovery_notification_id"),
)


def upgrade() -> None:
    """Upgrade schema."""
    for name, table, column in _INDEXES:
        op.create_index(name, table, [column], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    for name, table, _ in _INDEXES:
        op.drop_index(name, table_name=table)
