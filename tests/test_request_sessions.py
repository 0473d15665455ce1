"""Every request hands its database connection back, whatever its answer."""

from __future__ import annotations

from sqlalchemy.pool import QueuePool

from tests.conftest import HubHarness, make_area


def test_requests_return_their_connections_to_the_pool(hub: HubHarness, area_code: str) -> None:
    make_area(hub, area_code)
    pool = hub.runtime.engine.pool
    assert isinstance(pool, QueuePool)
    for _ in range(30):  # more than the pool holds, were any kept
        assert hub.http.get(f"/api/v1/areas/{area_code}/zones").status_code == 200
        assert hub.http.get(f"/api/v1/areas/{area_code}/devices/none").status_code == 404
        assert hub.http.post(f"/api/v1/areas/{area_code}/zones", json={}).status_code == 422
        assert hub.http.get(f"/api/v1/areas/{area_code}/audit").status_code == 200
    hub.wait(lambda: pool.checkedout() == 0, timeout=5, what="every connection back in the pool")
