"""The Alembic history builds exactly the schema the models describe, and can be walked back."""

from __future__ import annotations

from pathlib import Path

from alembic import command

from hub.migrate import alembic_config, upgrade


def test_migrations_match_the_models_and_downgrade_cleanly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    cfg = alembic_config(url)
    command.check(cfg)  # raises if a model change has no migration
    command.downgrade(cfg, "base")
    upgrade(url)
    command.check(cfg)
