"""A Tasmota device on its own connection, as a real one is: Last Will, boot messages, telemetry."""

from __future__ import annotations

import threading
import time

from devices.emulators.tasmota_device import VERSION, TasmotaDevice, TasmotaState
from devices.messages import Outbound
from devices.mqtt_client import LinkConfig, MqttLink, Received

__all__ = ["VERSION", "TasmotaEmulator", "TasmotaState"]


class TasmotaEmulator:
    def __init__(
        self,
        area: str,
        topic: str,
        host: str,
        port: int,
        username: str,
        password: str,
        *,
        dimmer: bool = True,
        power_w: float | None = None,
        mac: str = "A4CF12B3C4D5",
        module: str = "Generic",
        tele_period_s: float = 300.0,
        discovery_delay_s: float = 10.0,
        client_id: str | None = None,
    ) -> None:
        self.device = TasmotaDevice(
            area, topic, dimmer=dimmer, power_w=power_w, mac=mac, module=module, tele_period_s=tele_period_s
        )
        self.area, self.topic = area, topic
        self._discovery_delay_s = discovery_delay_s
        self._started = time.monotonic()
        self._stop = threading.Event()
        lwt = self.device.t("tele", "LWT")
        self.link = MqttLink(
            LinkConfig(
                host=host,
                port=port,
                # MqttClient: must differ from Topic (the docs insist); the hub binds it to the user.
                client_id=client_id or username,
                username=username,
                password=password,
                persistent=False,
                will=Outbound(lwt, b"Offline", qos=1, retain=True),
                birth=Outbound(lwt, b"Online", qos=1, retain=True),
                subscriptions=(f"cmnd/{area}/{topic}/#",),
            ),
            on_message=self._on_message,
            on_connected=self._on_connected,
        )
        self._tele = threading.Thread(target=self._tele_loop, name=f"tasmota-{topic}", daemon=True)

    @property
    def state(self) -> TasmotaState:
        return self.device.state

    def start(self) -> None:
        self.link.start()
        self._tele.start()

    def stop(self) -> None:
        self._stop.set()
        self.link.stop()

    def power_cut(self) -> None:
        """The mains fail: the connection drops without a word and the broker sends the Will."""
        self.link.abort()

    def power_back(self) -> None:
        self.link = MqttLink(self.link.config, on_message=self._on_message, on_connected=self._on_connected)
        self.link.start()

    def press(self) -> None:
        self._send(self.device.press())

    def _on_connected(self) -> None:
        # Tasmota subscribes to its GroupTopic too; the hub's ACL refuses it and it carries on.
        self.link.subscribe(f"cmnd/{self.area}/tasmotas/#")
        self._send(self.device.boot())
        # Tasmota sends its discovery some seconds after connecting, retained.
        later = threading.Timer(self._discovery_delay_s, lambda: self._send([self.device.discovery()]))
        later.daemon = True
        later.start()

    def _on_message(self, msg: Received) -> None:
        command = msg.topic.rsplit("/", 1)[-1]
        self._send(self.device.handle(command, msg.payload.decode("utf-8", "replace")))

    def _tele_loop(self) -> None:
        while not self._stop.wait(self.device.tele_period_s):
            if self.link.connected:
                self._send(self.device.telemetry(int(time.monotonic() - self._started)))

    def _send(self, messages: list[Outbound]) -> None:
        for out in messages:
            self.link.publish(out)
