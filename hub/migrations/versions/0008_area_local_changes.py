"""area local changes: whether a light's own change is adopted or undone by the hub

Revision ID: 0008
Revises: 0007


"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('areas') as batch:
        batch.add_column(sa.Column('local_changes', sa.String(length=16), server_default='adopt', nullable=False))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('areas') as batch:
        batch.drop_column('local_changes')
