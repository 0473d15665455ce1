"""device list index

Revision ID: 0006
Revises: 0005


"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index('ix_devices_area_kind_device', 'devices', ['area_id', 'kind', 'device_id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_devices_area_kind_device', table_name='devices')
