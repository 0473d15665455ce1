"""The project's one paho wrapper against a real broker: acknowledging many messages at once."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from devices.messages import Outbound
from devices.mqtt_client import LinkConfig, MqttLink, Received
from hub.broker import Broker
from tests.conftest import raw_link, tool_account


def _consumer(broker: Broker, client_id: str, topic: str, got: list[Received]) -> MqttLink:
    creds = tool_account(broker)
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
