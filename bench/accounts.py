"""Broker accounts for the benchmarks' own connections: the broker admits no anonymous client."""

from __future__ import annotations

from typing import Any

from devices.mqtt_client import Credentials, LinkConfig


def link_config(port: int, client_id: str, account: Credentials, **options: Any) -> LinkConfig:
    """A loopback connection as ``account`` (a bench account may read and write every topic)."""
    return LinkConfig("127.0.0.1", port, client_id, account.username, account.password, **options)
