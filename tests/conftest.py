"""Fixtures that start real parts: a Mosquitto from the repo's config, a SQLite file database."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.broker import Broker

_area_seq = itertools.count(1)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One broker shared by the session; tests isolate themselves with unique area codes."""
    b = Broker(tmp_path_factory.mktemp("broker"))
    b.start()
    yield b
    b.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker this test alone may kill and restart."""
    b = Broker(tmp_path / "broker")
    b.start()
    yield b
    b.kill()


@pytest.fixture
def area_code() -> str:
    """A unique area code, so tests sharing a broker never see each other's topics."""
    return f"t{next(_area_seq)}-{os.getpid()}"
