"""The project's one paho wrapper on a real broker: batched acknowledgements, keep-alive under a backlog."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from devices.messages import Outbound
from devices.mqtt_client import LinkConfig, MqttLink, Received
from hub.broker.process import Broker
from tests.conftest import raw_link, tool_account


def _consumer(broker: Broker, client_id: str, topic: str, got: list[Received]) -> MqttLink:
    creds = tool_account(broker, client_id=client_id)
    link = MqttLink(
        LinkConfig(
            "127.0.0.1",
            broker.port,
            client_id,
            creds.username,
            creds.password,
            persistent=True,
            manual_ack=True,
            subscriptions=(topic,),
        ),
        on_message=got.append,
    )
    link.start()
    assert link.wait_subscribed(5)
    return link


def _wait(cond: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert cond(), "condition not met in time"


def test_messages_acknowledged_together_are_not_redelivered_and_the_rest_are(broker: Broker) -> None:
    topic = f"khu/v1/acktest{os.getpid()}/dev/state"
    client_id = f"ack-consumer-{os.getpid()}"
    got: list[Received] = []
    consumer = _consumer(broker, client_id, topic, got)
    publisher = raw_link(broker, "ack-publisher")
    for i in range(6):
        assert publisher.publish(Outbound(topic, str(i).encode(), qos=1))
    _wait(lambda: len(got) == 6)
    consumer.ack([(m.mid, m.qos) for m in got[:4]])
    # A publish of our own is written after the PUBACKs queued before it: once the broker
    # has acknowledged it, it has read them.
    receipt = consumer.publish_with_receipt(Outbound(topic + "/probe", b"x", qos=1))
    assert receipt is not None
    _wait(receipt.done)
    consumer.stop()

    again: list[Received] = []
    resumed = _consumer(broker, client_id, topic, again)
    try:
        _wait(lambda: len(again) >= 2)
        time.sleep(0.3)  # nothing else may follow
        assert sorted(m.payload for m in again) == [b"4", b"5"]
        resumed.ack([(m.mid, m.qos) for m in again])
    finally:
        resumed.stop()
        publisher.stop()


def test_a_link_far_behind_a_flood_of_retained_messages_stays_connected(own_broker: Broker) -> None:
    """The broker answers a ping only after the backlog ahead of it; the link must not give up."""
    count, topic = 3_000, f"khu/v1/flood{os.getpid()}"
    publisher = raw_link(own_broker, "flood-publisher")
    body = b"x" * 200
    for i in range(count - 1):
        assert publisher.publish(Outbound(f"{topic}/d{i}/state", body, qos=1, retain=True))
    last = publisher.publish_with_receipt(Outbound(f"{topic}/d{count - 1}/state", body, qos=1, retain=True))
    assert last is not None
    _wait(last.done, timeout=60)
    publisher.stop()

    got: list[Received] = []
    stop = threading.Event()

    def slow(msg: Received) -> None:
        got.append(msg)
        until = time.perf_counter() + 0.0002  # validating and queueing, as the hub does
        while time.perf_counter() < until:
            pass

    def busy() -> None:  # the hub's writer: another thread wanting the interpreter
        while not stop.is_set():
            sum(range(2000))

    writer = threading.Thread(target=busy, daemon=True)
    writer.start()
    consumer = raw_link(
        own_broker, "flood-consumer", on_message=slow, keepalive=1, subscriptions=(f"{topic}/+/state",)
    )
    try:
        _wait(lambda: len(got) >= count or consumer.connects > 1, timeout=120)
        assert consumer.connects == 1, "the link dropped its connection while reading the backlog"
        assert len({m.topic for m in got}) == count
    finally:
        stop.set()
        consumer.stop()
