"""An ESPHome node (MQTT component, no native API) with one light, as its documentation describes it.

Behaviour kept, and where ESPHome documents it:

- components/mqtt, "Last Will And Birth Messages": on connecting it sends ``online``,
  retained, to ``<topic_prefix>/status``; its Last Will is ``offline`` there; a clean stop
  sends the ``shutdown_message`` (``offline``, retained) first. The MQTTMessage schema's
  defaults: QoS 0, retained.
- components/mqtt, ``discovery``/``discovery_retain``/``use_abbreviations`` (all true by
  default): after connecting it sends its discovery, retained, to
  ``<discovery_prefix>/light/<node name>/<object_id>/config`` with abbreviated keys, then
  its state; it sends both again after every reconnect.
- components/mqtt, "MQTT Component Base Configuration": the light's state goes to
  ``<topic_prefix>/light/<object_id>/state`` (retained, QoS 0) and commands are read on
  ``.../command``; the object id is the light's name, snake-cased.
- ``log_topic`` (default ``<topic_prefix>/debug``): log lines, retained, QoS 0.
- ``discover_ip`` (when set): subscribes ``esphome/discover`` and publishes its address to
  ``esphome/discover/<name>``, outside its tree: the hub's ACL refuses both.
- components/light: ``default_transition_length`` 1 s fades every change; with
  ``transition_state_publish_interval`` > 0 the starting state, intermediate states and the
  final state are published, otherwise the target state at once. Percentage options "default
  to not changing the current value": a command with only ``state`` keeps the brightness.
  ``restore_mode`` ALWAYS_OFF (the default): it boots off.
- The MQTT JSON light schema: ``{"state":"ON","brightness":0-255,"transition":s}`` in,
  ``{"color_mode":"brightness","state":"ON","brightness":102,"color":{}}`` out; brightness
  0 switches the light off and the brightness goes back to 100 % (esphome/issues#2833).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from devices.messages import Outbound
from devices.mqtt_client import LinkConfig, MqttLink, Received

VERSION = "2024.11.2"
BUILT = "Dec  2 2024, 10:11:12"  # the compilation time ESPHome appends to sw_version


@dataclass(slots=True)
class EsphomeLight:
    on: bool = False
    brightness: float = 1.0  # 0-1, what it is set to (ESPHome's remote values)
    output: float = 0.0  # 0-1, what the lamp gives now: it fades towards the setting
    commands: list[dict[str, Any]] = field(default_factory=list)  # JSON commands received
    published: list[dict[str, Any]] = field(default_factory=list)  # states published


class EsphomeEmulator:
    def __init__(
        self,
        area: str,
        node: str,
        host: str,
        port: int,
        username: str,
        password: str,
        *,
        light_name: str = "Light",
        dimmable: bool = True,  # monochromatic (brightness) or binary (on/off) light
        transition_s: float = 1.0,  # default_transition_length
        publish_interval_s: float = 0.0,  # transition_state_publish_interval
        restore: bool = False,  # restore_mode RESTORE_DEFAULT_OFF instead of ALWAYS_OFF
        discover_ip: bool = False,
        board: str = "esp32dev",
        mac: str = "a4cf12b3c4d5",
    ) -> None:
        self.area, self.node, self.dims, self.board, self.mac = area, node, dimmable, board, mac
        self.name = light_name
        self.object_id = "".join(c for c in light_name.lower().replace(" ", "_") if c.isalnum() or c in "-_")
        self.prefix = f"esphome/{area}/{node}"
        self.status_topic = f"{self.prefix}/status"
        self.state_topic = f"{self.prefix}/light/{self.object_id}/state"
        self.command_topic = f"{self.prefix}/light/{self.object_id}/command"
        self.discovery_topic = f"{self.prefix}/discovery/light/{node}/{self.object_id}/config"
        self.light = EsphomeLight()
        self._transition_s, self._interval_s = transition_s, publish_interval_s
        self._restore, self._discover_ip = restore, discover_ip
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._generation = 0  # a new change stops the fade of the one before
        self.link = self._new_link(username, password, host, port)

    def _new_link(self, username: str, password: str, host: str, port: int) -> MqttLink:
        config = LinkConfig(
            host=host,
            port=port,
            client_id=username,  # client_id: ESPHome's default (name + MAC) would be refused
            username=username,
            password=password,
            # ESPHome keeps its session (clean_session false) but subscribes at QoS 0, so the
            # broker never queues its commands; MqttLink subscribes at QoS 1: a clean session
            # keeps the broker from queuing what the node would never have received.
            persistent=False,
            keepalive=15,
            will=Outbound(self.status_topic, b"offline", qos=0, retain=True),
            birth=Outbound(self.status_topic, b"online", qos=0, retain=True),
            subscriptions=(self.command_topic,),
        )
        return MqttLink(config, on_message=self._on_message, on_connected=self._on_connected)

    # --- life ------------------------------------------------------------------------

    def start(self) -> None:
        self.link.start()

    def stop(self) -> None:
        """A clean shutdown: the shutdown message, then DISCONNECT (the broker drops the Will)."""
        self._stop.set()
        self.link.publish(Outbound(self.status_topic, b"offline", qos=0, retain=True))
        self.link.stop()

    def power_cut(self) -> None:
        """The mains fail: the connection drops without a word and the broker sends the Will."""
        with self._lock:
            self._generation += 1
        self.link.abort()

    def power_back(self) -> None:
        """It boots again: ALWAYS_OFF (the default) comes back off at full brightness."""
        with self._lock:
            if not self._restore:
                self.light.on, self.light.brightness = False, 1.0
            self.light.output = self.light.brightness if self.light.on else 0.0
        c = self.link.config
        self.link = MqttLink(c, on_message=self._on_message, on_connected=self._on_connected)
        self.link.start()

    def press(self) -> None:
        """Its physical button toggles the light (``light.toggle``), with the default transition."""
        with self._lock:
            on, brightness = not self.light.on, self.light.brightness
        self._apply(on, brightness, self._transition_s)

    def _on_connected(self) -> None:
        # The birth message went first (MqttLink sends it on CONNACK); then, like every
        # MQTT component after a (re)connect, the discovery and the state.
        if self._discover_ip:
            self.link.subscribe("esphome/discover")
            self.link.subscribe(f"esphome/ping/{self.node}")
            info = {"ip": "192.168.1.60", "name": self.node, "version": VERSION, "mac": self.mac}
            self.link.publish(Outbound(f"esphome/discover/{self.node}", json.dumps(info).encode(), 0, False))
        self.link.publish(Outbound(self.discovery_topic, self._discovery(), qos=0, retain=True))
        with self._lock:
            on, brightness = self.light.on, self.light.brightness
        self._publish_state(on, brightness)

    # --- commands --------------------------------------------------------------------

    def _on_message(self, msg: Received) -> None:
        try:
            body = json.loads(msg.payload)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._log("E", "json", "Parsing JSON failed.")
            return
        with self._lock:
            self.light.commands.append(body)
            on, brightness = self.light.on, self.light.brightness
        state = str(body.get("state", "")).upper()
        if state in ("ON", "OFF"):
            on = state == "ON"
        elif state == "TOGGLE":
            on = not on
        value = body.get("brightness")
        if self.dims and isinstance(value, int | float) and not isinstance(value, bool):
            brightness = max(0.0, min(1.0, float(value) / 255))
            if brightness == 0.0:
                on, brightness = False, 1.0  # "brightness 0% turns it OFF and brightness becomes 100%"
        seconds = body.get("transition")
        length = (
            float(seconds) if isinstance(seconds, int | float) and not isinstance(seconds, bool) else None
        )
        self._log("D", "light", f"'{self.name}' Setting: State: {'ON' if on else 'OFF'}")
        self._apply(on, brightness, self._transition_s if length is None else max(0.0, length))

    def _apply(self, on: bool, brightness: float, seconds: float) -> None:
        with self._lock:
            before = (self.light.on, self.light.brightness)
            start = self.light.output
            self.light.on, self.light.brightness = on, brightness
            self._generation += 1
            generation = self._generation
        target = brightness if on else 0.0
        if seconds <= 0 or not self.dims:
            with self._lock:
                self.light.output = target
            self._publish_state(on, brightness)
            return
        # With an interval the state it starts from goes out first; without, the target.
        self._publish_state(*(before if self._interval_s > 0 else (on, brightness)))
        args = (generation, start, target, seconds, on, brightness)
        threading.Thread(target=self._fade, args=args, name=f"esphome-{self.node}", daemon=True).start()

    def _fade(
        self, generation: int, start: float, end: float, seconds: float, on: bool, bright: float
    ) -> None:
        """The lamp's output moves to the setting; ON throughout, as ESPHome's transition reports it."""
        tick = self._interval_s if self._interval_s > 0 else seconds
        steps = max(1, round(seconds / tick))
        for i in range(1, steps + 1):
            if self._stop.wait(seconds / steps):
                return
            with self._lock:
                if generation != self._generation:
                    return  # a newer change took over from where the lamp is
                output = self.light.output = start + (end - start) * i / steps
            if self._interval_s > 0 and i < steps:
                self._publish_state(True, output)
        if self._interval_s > 0:
            self._publish_state(on, bright)

    # --- messages --------------------------------------------------------------------

    def _publish_state(self, on: bool, brightness: float) -> None:
        body: dict[str, Any] = {
            "color_mode": "brightness" if self.dims else "onoff",
            "state": "ON" if on else "OFF",
        }
        if self.dims:
            body["brightness"] = int(brightness * 255 + 1e-6)  # uint8_t(brightness * 255)
        body["color"] = {}  # an empty nested object: ESPHome always creates it
        with self._lock:
            self.light.published.append(body)
        self.link.publish(Outbound(self.state_topic, json.dumps(body).encode(), qos=0, retain=True))

    def _log(self, level: str, tag: str, line: str) -> None:
        self.link.publish(Outbound(f"{self.prefix}/debug", f"[{level}][{tag}]: {line}".encode(), 0, True))

    def _discovery(self) -> bytes:
        body: dict[str, Any] = {"schema": "json", "clrm": True}
        body["sup_clrm"] = ["brightness"] if self.dims else ["onoff"]
        if self.dims:
            body["brightness"] = True  # the legacy field, still sent
        body |= {
            "name": self.name,
            "stat_t": self.state_topic,
            "cmd_t": self.command_topic,
            "avty_t": self.status_topic,
            "uniq_id": f"ESPlight{self.object_id}",
            "dev": {
                "ids": self.mac,
                "name": self.node,
                "sw": f"esphome v{VERSION} {BUILT}",
                "mdl": self.board,
                "mf": "espressif",
                "sa": "",
            },
        }
        return json.dumps(body).encode()
