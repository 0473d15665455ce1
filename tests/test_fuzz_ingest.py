"""Property-based fuzzing of every MQTT ingest path on a real broker: garbage in, hub up, all counted."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices import topics
from devices.codec import encode_report
from devices.mqtt_client import MqttLink
from devices.payloads import CameraState, DeviceInfo, Kind, LightState, MotionEvent, Storage
from hub.broker.process import Broker
from hub.registry.areas import Registration
from tests.conftest import HubHarness, make_area, raw_link
from tests.test_ingest import now_ms

C = topics.Channel
CHANNELS = [C.STATE, C.STATUS, C.EVENT, C.INFO]
DEVICES = ["light-a", "cam-1", "ghost-9"]
# Valid traffic runs ahead of any timestamp the garbage can carry, so it must always win.
_ts = itertools.count(now_ms() + 10**10)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def _valid_payloads() -> list[dict[str, Any]]:
    ts = now_ms()
    return [
        LightState(ts=ts, on=True, level=50, power_w=30.0).model_dump(mode="json"),
        CameraState(ts=ts, recording=True, motion=False, tampering=False, storage=Storage.OK).model_dump(
            mode="json"
        ),
        MotionEvent(ts=ts, active=True).model_dump(mode="json"),
        DeviceInfo(kind=Kind.CAMERA, model="x", firmware="1").model_dump(mode="json"),
    ]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid payload with one field given a wrong type, a huge value, or removed."""
    doc = dict(draw(st.sampled_from(_valid_payloads())))
    key = draw(st.sampled_from(sorted(doc)))
    choice = draw(st.integers(0, 2))
    if choice == 0:
        doc[key] = draw(json_values)
    elif choice == 1:
        doc[key] = 10**30
    else:
        doc.pop(key)
    return json.dumps(doc).encode()


garbage_payloads = st.one_of(
    st.binary(max_size=300),
    st.binary(min_size=8193, max_size=9000),  # over the size limit
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated(),
    st.sampled_from([b"online", b"offline", b"ONLINE", b"", b"null", b"{}", b"[]"]),
)
garbage = st.tuples(st.sampled_from(DEVICES), st.sampled_from(CHANNELS), garbage_payloads)


@pytest.fixture
def fuzz_area(
    own_broker: Broker, hub_factory: Callable[..., HubHarness], area_code: str
) -> Iterator[tuple[HubHarness, str, MqttLink]]:
    """A broker of its own: other tests' retained messages (in any protocol) would be counted too."""
    hub = hub_factory(own_broker)
    make_area(
        hub, area_code, [Registration("light-a", Kind.LIGHT, "A"), Registration("cam-1", Kind.CAMERA, "C")]
    )
    link = raw_link(own_broker, "fuzz")
    yield hub, area_code, link
    link.stop()


def _accounted(hub: HubHarness) -> bool:
    reg = hub.runtime.metrics.registry
    received = sum(
        reg.get_sample_value("khu_mqtt_messages_in_total", {"channel": c.value}) or 0 for c in CHANNELS
    )
    other = sum(reg.get_sample_value("khu_mqtt_messages_in_total", {"channel": c}) or 0 for c in ("cmd",))
    rejected = sum(hub.rejections().values())
    committed = reg.get_sample_value("khu_ingest_committed_total") or 0
    return received + other == rejected + committed


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(batch=st.lists(garbage, min_size=10, max_size=60))
def test_garbage_is_rejected_and_counted_while_valid_traffic_is_applied(
    fuzz_area: tuple[HubHarness, str, MqttLink], batch: list[tuple[str, topics.Channel, bytes]]
) -> None:
    hub, area, device_link = fuzz_area
    last_level, last_ts = -1, 0
    for i, (device, channel, payload) in enumerate(batch):
        device_link.publish(encode_report(area, device, channel, payload))
        if i % 5 == 0:  # valid traffic interleaved with the garbage, some of it replayed
            ts = last_ts = next(_ts)
            last_level = ts % 101
            state = LightState(ts=ts, on=True, level=last_level, power_w=1.0).model_dump_json().encode()
            device_link.publish(encode_report(area, "light-a", C.STATE, state))
            device_link.publish(encode_report(area, "light-a", C.STATE, state))  # a replay

    def state() -> dict[str, Any]:
        found: dict[str, Any] = (hub.device(area, "light-a") or {}).get("state") or {}
        return found

    if last_level >= 0:
        hub.wait(lambda: state().get("ts") == last_ts, what="the newest valid state applied")
        assert state()["level"] == last_level
    hub.wait(lambda: _accounted(hub), what="every message applied or rejected and counted")
    assert hub.http.get("/readyz").status_code == 200
