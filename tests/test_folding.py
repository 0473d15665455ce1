"""The per-recipient cap: past it a minute, notifications fold into one summary; emergencies never."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from devices.payloads import Priority
from hub.broker.process import Broker
from hub.models import Role
from tests.conftest import HubHarness, make_area
from tests.test_webpush import FAST_NOTIFY, area_id, deliveries, push_service, wait_status

T0 = datetime(2025, 3, 10, 3, 0, tzinfo=UTC)  # 10:00 in Hà Nội: nobody's quiet hours


@pytest.fixture
def nhub(broker: Broker, hub_factory: Callable[..., HubHarness]) -> HubHarness:
    return hub_factory(broker, **FAST_NOTIFY)


def folded_count(hub: HubHarness) -> float:
    metric = hub.runtime.notifications.metrics.folded
    return sum(s.value for m in metric.collect() for s in m.samples if s.name.endswith("_total"))


def test_overflow_folds_into_a_summary_and_an_emergency_goes_at_once(
    nhub: HubHarness, area_code: str
) -> None:
    make_area(nhub, area_code)
    aid = area_id(nhub, area_code)
    notes = nhub.runtime.notifications
    notes.cap_per_minute = 3
    clock = [T0]
    notes.clock = lambda: clock[0]
    head = nhub.client_for("truong-khu", nhub.add_user("truong-khu", Role.HEAD, area_code))
    with push_service(notes.vapid_public_key) as push:
        assert head.post("/api/v1/push/subscriptions", json=push.subscription("/head")).status_code == 201
        storm = [
            notes.notify_staff(aid, f"Cảnh báo {n}", f"Cảnh báo số {n}.", Priority.PRIORITY) for n in range(8)
        ]
        for nid in storm[:3]:
            wait_status(nhub, nid, "sent")
        for nid in storm[3:]:
            assert [d.status for d in deliveries(nhub, nid) if not d.folded] == ["folded"]
        urgent = notes.notify_staff(aid, "Cháy", "Cháy ở nhà văn hoá, sơ tán ngay.", Priority.EMERGENCY)
        wait_status(nhub, urgent, "sent", timeout=3)  # not folded, not held for the summary
        pushed = [r.payload for r in push.on("/head") if r.payload]
        assert sorted(p["id"] for p in pushed) == [*storm[:3], urgent]  # sent in parallel
        assert folded_count(nhub) == 5

        # The minute is over: one summary names how many were folded and opens the newest.
        clock[0] = T0 + timedelta(seconds=61)
        notes.worker.wake()
        nhub.wait(lambda: len(push.on("/head")) == 5, what="the summary push")
        summary = push.on("/head")[-1].payload
        assert summary is not None
        assert summary["kind"] == "summary"
        assert summary["folded"] == 5
        assert summary["id"] == storm[-1]
        assert summary["title"] == "Thêm 5 thông báo"
        # The feed keeps every one of them.
        feed = head.get(f"/api/v1/areas/{area_code}/notifications", params={"limit": 50}).json()
        assert len(feed["items"]) == 9

        # A new minute, a fresh allowance.
        later = notes.notify_staff(aid, "Tin mới", "Một tin.", Priority.NORMAL)
        wait_status(nhub, later, "sent")
