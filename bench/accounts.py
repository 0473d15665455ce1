"""Broker accounts for the benchmarks' own connections: the broker admits no anonymous client.

Every account is bound to one client id (its username), so each connection the benchmarks
open has its own: ``Accounts`` maps a client id to its account.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devices import topics
from devices.mqtt_client import Credentials, LinkConfig
from devices.sim import DeviceSpec
from devices.sim.connection import SIM_ROOT
from devices.sim.fleet import gateway_shares
from hub.broker.accounts import BrokerAccounts
from hub.broker.acls import device_username, tool_acls
from hub.broker.bootstrap import credentials_doc, credentials_from, write_private

Accounts = Mapping[str, Credentials]
C = topics.Channel

# A fleet with more devices than this per connection (the scale run: 12,500) stands in for
# devices that would have connections or small gateways of their own: its connections get
# area-wide accounts, since per-device grants that size cost the broker minutes to write.
GATEWAY_MAX_DEVICES = 1000

# Every connection of the benchmarks and their peers, by client id.
CLIENT_IDS = (
    "bench-roundtrip",
    "bench-fanout",
    "bench-floor",
    "bench-publisher",
    "bench-observer",
    "bench-bare-scheduler",
    "bench-echo",
    "bench-sink",
)


def provision(accounts: BrokerAccounts) -> dict[str, Credentials]:
    """An account for each bench connection that may read and write every topic."""
    return {cid: accounts.provision_tool(cid, tool_acls(("#",))) for cid in CLIENT_IDS}


def write_accounts(path: Path, accounts: Accounts) -> Path:
    write_private(path, json.dumps({cid: credentials_doc(c) for cid, c in accounts.items()}) + "\n")
    return path


def read_accounts(path: Path) -> dict[str, Credentials]:
    return {cid: credentials_from(doc) for cid, doc in json.loads(path.read_text()).items()}


def link_config(port: int, client_id: str, accounts: Accounts, **options: Any) -> LinkConfig:
    """A loopback connection as ``client_id``, with the account bound to it."""
    account = accounts[client_id]
    return LinkConfig("127.0.0.1", port, client_id, account.username, account.password, **options)


def multiplexer_accounts(
    accounts: BrokerAccounts, area: str, specs: list[DeviceSpec], connections: int
) -> tuple[dict[str, Credentials], Credentials]:
    """Accounts for connections that speak for any device of the area (benchmarks only)."""
    every = f"{topics.ROOT}/{area}/+"
    reports = [f"{every}/{c.value}" for c in (C.STATE, C.STATUS, C.EVENT, C.INFO)]
    reads = [f"{every}/{C.CMD.value}", topics.HUB_STATUS_TOPIC]
    acls = tool_acls(reports) + tool_acls(reads, publish=False)
    made = {
        g: accounts.provision_tool(device_username(area, g), acls)
        for g in gateway_shares([s.device_id for s in specs], connections)
    }
    control = accounts.provision_tool(f"sim-control.{area}", tool_acls([f"{SIM_ROOT}/{area}/#"]))
    return made, control
