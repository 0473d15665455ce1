"""Apprise channel URLs may not make the hub post to itself or the local network (issue 15)."""

from __future__ import annotations

from collections.abc import Callable

from devices.payloads import Priority
from hub.broker.process import Broker
from hub.models import Role
from hub.notifications import apprise_channel
from tests.conftest import HubHarness, make_area
from tests.test_notifications import json_sink


def test_channel_urls_on_private_addresses_are_refused(hub: HubHarness, area_code: str) -> None:
    make_area(hub, area_code)
    head = hub.client_for("truong", hub.add_user("truong", Role.HEAD, area_code))
    url = f"/api/v1/areas/{area_code}/notification-channels"
    with json_sink() as sink:
        for target in (
            f"json://{sink.base}/hook",
            "json://localhost:9/hook",
            "xml://[::1]:9/x",
            "gotify://10.1.2.3/abcdefghijklmno",
            "ntfy://192.168.1.20/topic",
            "mailtos://user:pass@example.com?smtp=10.0.0.5",
        ):
            r = head.put(url, json={"channels": [{"label": "Nhóm", "url": target}]})
            assert r.status_code == 422, (target, r.text)
            assert "points inside" in r.json()["detail"], r.text
            assert "KHU_NOTIFY_ALLOW_PRIVATE_URLS" in r.json()["detail"]
        public = head.put(
            url, json={"channels": [{"label": "Nhóm", "url": "ntfys://ntfy.sh/khu-test-topic"}]}
        )
        assert public.status_code == 200, public.text
        # And at send time, whatever was stored: nothing reaches the sink.
        sent = apprise_channel.send(
            f"json://{sink.base}/hook", "t", "b", Priority.NORMAL, 5, allow_private=False
        )
        assert not sent.ok
        assert not sent.retry
        assert "points inside" in sent.error
        assert sink.posts == []


def test_a_hub_may_allow_private_channel_urls(
    broker: Broker, hub_factory: Callable[..., HubHarness], area_code: str
) -> None:
    h = hub_factory(broker, notify_allow_private_urls=True)
    make_area(h, area_code)
    head = h.client_for("truong2", h.add_user("truong2", Role.HEAD, area_code))
    r = head.put(
        f"/api/v1/areas/{area_code}/notification-channels",
        json={"channels": [{"label": "Nhóm", "url": "json://127.0.0.1:9/hook"}]},
    )
    assert r.status_code == 200, r.text
