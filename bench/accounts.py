"""Broker accounts for the benchmarks' own connections: the broker admits no anonymous client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from devices.mqtt_client import Credentials, LinkConfig
from hub.broker_security import read_credentials, write_private


def link_config(port: int, client_id: str, account: Credentials, **options: Any) -> LinkConfig:
    """A loopback connection as ``account`` (a bench account may read and write every topic)."""
    return LinkConfig("127.0.0.1", port, client_id, account.username, account.password, **options)


def save_account(path: Path, account: Credentials) -> Path:
    write_private(path, json.dumps({"username": account.username, "password": account.password}))
    return path


def load_account(path: str | Path) -> Credentials:
    return read_credentials(Path(path))
