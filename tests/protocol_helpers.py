"""What the tests of off-the-shelf devices do alike: register one, read one, command lights."""

from __future__ import annotations

from typing import Any

from tests.conftest import HubHarness


def register(
    hub: HubHarness, area: str, device_id: str, kind: str, protocol: str, **extra: Any
) -> dict[str, Any]:
    """Add a device as the head does; its broker account (``mqtt``), shown once."""
    r = hub.http.post(
        f"/api/v1/areas/{area}/devices",
        json={"device_id": device_id, "kind": kind, "protocol": protocol, **extra},
    )
    assert r.status_code == 201, r.text
    return dict(r.json()["mqtt"])


def device(hub: HubHarness, area: str, device_id: str) -> dict[str, Any]:
    return hub.device(area, device_id) or {}


def light_command(hub: HubHarness, area: str, target: dict[str, Any], **action: Any) -> dict[str, Any]:
    """A ``light.set`` to a device, a zone or the area, waiting up to 5 s for confirmations."""
    r = hub.http.post(
        f"/api/v1/areas/{area}/commands",
        json={"target": target, "action": {"type": "light.set", **action}, "wait_ms": 5000},
    )
    assert r.status_code == 200, r.text
    return dict(r.json())
