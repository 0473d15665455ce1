"""The API's cache of callers and areas: fewer reads, and still no stale permissions."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, update
from sqlalchemy.orm import Session

from hub.broker.process import Broker
from hub.models import Role, User
from tests.conftest import HubHarness, make_area


def test_a_repeated_area_request_reads_neither_the_caller_nor_the_area(
    broker: Broker, hub_factory: Callable[..., HubHarness], area_code: str
) -> None:
    # A cache time no busy machine outlasts between two requests: only the repeat is measured.
    hub = hub_factory(broker, api_cache_s=60)
    make_area(hub, area_code)
    assert hub.http.get(f"/api/v1/areas/{area_code}/zones").status_code == 200
    seen: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        seen.append((sql, params))

    event.listen(hub.runtime.engine, "before_cursor_execute", note)
    try:
        assert hub.http.get(f"/api/v1/areas/{area_code}/zones").status_code == 200
    finally:
        event.remove(hub.runtime.engine, "before_cursor_execute", note)
    assert seen, "the zones themselves are still read"
    # Only the caller's and this area's lookups: meanwhile the hub's ingest looks up the areas of
    # other tests' devices on the shared broker with the same statement.
    lookups = [
        sql
        for sql, params in seen
        if "WHERE users.id = ?" in sql or ("WHERE areas.code = ?" in sql and area_code in params)
    ]
    assert not lookups, seen


def test_changes_through_the_api_apply_at_once(hub: HubHarness, area_code: str) -> None:
    make_area(hub, area_code)
    head = hub.client_for(f"head-{area_code}", hub.add_user(f"head-{area_code}", Role.HEAD, area_code))
    assert head.get(f"/api/v1/areas/{area_code}").json()["name"] != "Khu mới"
    r = hub.http.patch(f"/api/v1/areas/{area_code}", json={"name": "Khu mới"})
    assert r.status_code == 200, r.text
    assert head.get(f"/api/v1/areas/{area_code}").json()["name"] == "Khu mới"
    me = head.get("/api/v1/auth/me").json()
    assert hub.http.patch(f"/api/v1/users/{me['id']}", json={"active": False}).status_code == 200
    assert head.get(f"/api/v1/areas/{area_code}").status_code == 401


def test_a_change_from_another_process_applies_within_the_cache_time(
    broker: Broker, hub_factory: Callable[..., HubHarness], area_code: str
) -> None:
    hub = hub_factory(broker, api_cache_s=0.5)
    make_area(hub, area_code)
    name = f"head-{area_code}"
    head = hub.client_for(name, hub.add_user(name, Role.HEAD, area_code))
    assert head.get(f"/api/v1/areas/{area_code}").status_code == 200
    # As `khu` run beside the hub would: its own session, not the API's.
    with Session(hub.runtime.engine) as other, other.begin():
        other.execute(update(User).where(User.username == name).values(active=False))
    deadline = time.monotonic() + 0.5 + 1.0
    while head.get(f"/api/v1/areas/{area_code}").status_code == 200:
        assert time.monotonic() < deadline, "the disabled account still got in after the cache time"
        time.sleep(0.05)
    assert head.get(f"/api/v1/areas/{area_code}").status_code == 401
