"""Many Tasmota devices on a few connections: a load generator for benchmarks.

A real Tasmota has a connection (and an account) of its own; the hub cannot tell, since it
reads the same topics. One tool account that may read ``cmnd/<area>/#`` and write
``stat/<area>/#`` and ``tele/<area>/#`` plays them all, so a thousand lights do not cost a
thousand client threads in the process that measures the hub.
"""

from __future__ import annotations

from devices.emulators.tasmota_device import TasmotaDevice
from devices.messages import Outbound
from devices.mqtt_client import Credentials, LinkConfig, MqttLink, Received


class TasmotaFleet:
    def __init__(self, area: str, topics: list[str], host: str, port: int, account: Credentials) -> None:
        self.area = area
        self.devices = {t: TasmotaDevice(area, t, power_w=60.0) for t in topics}
        self.link = MqttLink(
            LinkConfig(
                host,
                port,
                account.username,
                account.username,
                account.password,
                persistent=False,
                subscriptions=(f"cmnd/{area}/+/+",),
            ),
            on_message=self._on_message,
        )

    @staticmethod
    def filters(area: str) -> tuple[str, ...]:
        """What the fleet's tool account needs."""
        return (f"cmnd/{area}/#", f"stat/{area}/#", f"tele/{area}/#")

    def start(self, timeout: float = 30) -> None:
        self.link.start()
        if not self.link.wait_subscribed(timeout):
            raise RuntimeError("the Tasmota fleet could not connect and subscribe")
        for device in self.devices.values():
            lwt = Outbound(device.t("tele", "LWT"), b"Online", qos=1, retain=True)
            self._send([lwt, *device.boot()])

    def stop(self) -> None:
        self.link.stop()

    def _on_message(self, msg: Received) -> None:
        _, _, topic, command = msg.topic.split("/", 3)
        device = self.devices.get(topic)
        if device is not None:
            self._send(device.handle(command, msg.payload.decode("utf-8", "replace")))

    def _send(self, messages: list[Outbound]) -> None:
        for out in messages:
            self.link.publish(out)
