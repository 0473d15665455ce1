"""A Frigate NVR with its cameras, as its MQTT documentation describes it, on the real broker.

From Frigate's docs (integrations/mqtt.md, configuration reference, FAQ): with
``topic_prefix: frigate/<area>/<id>`` it connects with its ``client_id`` and the Will
``<prefix>/available`` = ``offline`` (QoS 1, retained); on every connection it publishes each
camera's settings on ``<camera>/<setting>/state`` (retained), ``<camera>/motion`` ``OFF``, and
last ``available`` ``online`` (retained); a normal stop publishes ``stopped`` (retained). It
subscribes to its whole prefix and takes ``ON``/``OFF`` on ``<camera>/<setting>/set``, answering
on ``.../state``. ``stats`` (the ``/api/stats`` document, not retained) comes first some
seconds after start, then every ``stats_interval``; a camera whose stream is down has
``camera_fps`` 0. A tracked object makes ``events`` ``new``/``update``/``end`` and a JPEG on
``<camera>/<label>/snapshot`` (retained). Frigate publishes with its configured ``qos`` (0).
"""

from __future__ import annotations

import base64
import json
import random
import string
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from devices.messages import Outbound
from devices.mqtt_client import LinkConfig, MqttLink, Received

VERSION = "0.16.1-e664cb2"
DETECT_FPS = 5.0
# A 64x36 picture of a person in a box, the kind of crop Frigate publishes (593 bytes).
SNAPSHOT_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAoHBwgHBgoICAgLCgoLDhgQDg0NDh0VFhEYIx8lJCIfIiEmKzcvJik0KSEiMEEx"
    "NDk7Pj4+JS5ESUM8SDc9Pjv/2wBDAQoLCw4NDhwQEBw7KCIoOzs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7"
    "Ozs7Ozs7Ozs7Ozs7Ozv/wAARCAAkAEADASIAAhEBAxEB/8QAGQABAQEBAQEAAAAAAAAAAAAAAAYEBQID/8QAMBAAAQMBAwcN"
    "AQAAAAAAAAAAAAECBAMFESESFSI0NUFTBhMUMmFxdIORorGy0aH/xAAYAQADAQEAAAAAAAAAAAAAAAABAgMABP/EACYRAAIC"
    "AQIFBAMAAAAAAAAAAAECAAMRNFExMmGBsQQTccEhcvD/2gAMAwEAAhEDEQA/AIsAFIkG3M8/ge9v6YiusaLZ0rlJKbNRlSqj"
    "W8zSqJe12jpLdvVEuw713YQsdgwC7H66jedVNdZrZ3BOCB+DjjnodpOPsqbTpue+jc1qKqrlNwT1MhSWrQgx7an04CpkdFet"
    "Rreqx9+KJ/MNy3p2JNhqZiSG/vMF9daqrICM54nPDsIABac0AA00FJR2pN8v6k2UlHak3y/qP6fVJ8N9SzaR/wBl8NPjJ1yR"
    "4J3ycE70nXJHgnfJwRbdRZ2hOnr7+YAAJCAAaaDbnifx/Y38AEZEfmGZWu6yrPtsRnY4nl9qzalNzH1r2uRUVMluKehkACqK"
    "nKMQWW2WHLsT8nMAAaTn/9k="
)
_SETTINGS = ("enabled", "recordings", "snapshots", "audio", "detect", "motion", "improve_contrast")


def snapshot(note: str) -> bytes:
    """``SNAPSHOT_JPEG`` with ``note`` in a JPEG comment: a valid picture, different each time."""
    text = note.encode()[:200]
    return SNAPSHOT_JPEG[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + SNAPSHOT_JPEG[2:]


@dataclass(slots=True)
class FrigateState:
    fps: dict[str, float]
    settings: dict[str, str] = field(default_factory=dict)  # "<camera>/<setting>" -> ON/OFF
    moving: set[str] = field(default_factory=set)
    tracked: dict[str, dict[str, Any]] = field(default_factory=dict)  # camera -> its open event
    commands: list[tuple[str, str]] = field(default_factory=list)  # (topic under prefix, payload)


class FrigateEmulator:
    def __init__(
        self,
        area: str,
        frigate_id: str,
        host: str,
        port: int,
        username: str,
        password: str,
        cameras: Sequence[str],
        *,
        stats_interval_s: float = 60.0,
        first_stats_s: float = 25.0,
        qos: int = 0,
    ) -> None:
        self.prefix = f"frigate/{area}/{frigate_id}"
        self.qos = qos
        self.state = FrigateState(fps=dict.fromkeys(cameras, DETECT_FPS))
        self.state.settings = {f"{c}/{s}": "ON" for c in cameras for s in _SETTINGS}
        self._stats_interval_s, self._first_stats_s = stats_interval_s, first_stats_s
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.link = MqttLink(
            LinkConfig(
                host=host,
                port=port,
                client_id=username,  # mqtt.client_id: the hub binds the account to it
                username=username,
                password=password,
                persistent=False,
                keepalive=60,
                will=Outbound(self._t("available"), b"offline", qos=1, retain=True),
                subscriptions=(f"{self.prefix}/#",),
            ),
            on_message=self._on_message,
            on_connected=self._on_connected,
        )
        self._stats = threading.Thread(target=self._stats_loop, name=f"frigate-{frigate_id}", daemon=True)

    def _t(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def _send(self, name: str, payload: str | bytes, retain: bool = False) -> None:
        body = payload.encode() if isinstance(payload, str) else payload
        self.link.publish(Outbound(self._t(name), body, qos=self.qos, retain=retain))

    # --- life ------------------------------------------------------------------------

    def start(self) -> None:
        self.link.start()
        self._stats.start()

    def stop(self) -> None:
        """A normal stop: ``stopped`` (retained), then a clean disconnect (no Will)."""
        self._stop.set()
        if self.link.connected:
            receipt = self.link.publish_with_receipt(Outbound(self._t("available"), b"stopped", 1, True))
            deadline = time.monotonic() + 2
            while receipt is not None and not receipt.done() and time.monotonic() < deadline:
                time.sleep(0.01)
        self.link.stop()

    def power_cut(self) -> None:
        """The box loses power: the connection drops and the broker publishes the Will."""
        self.link.abort()

    def power_back(self) -> None:
        self.link = MqttLink(self.link.config, on_message=self._on_message, on_connected=self._on_connected)
        self.link.start()

    def _on_connected(self) -> None:
        with self._lock:
            settings = dict(self.state.settings)
        for name, value in settings.items():
            self._send(f"{name}/state", value, retain=True)
        for camera in self.state.fps:
            self._send(f"{camera}/motion", "OFF")
        self._send("available", "online", retain=True)  # last: its initial state is out

    # --- what happens in front of the cameras ----------------------------------------

    def camera_down(self, camera: str) -> None:
        """The camera's stream is lost: the next stats show camera_fps 0."""
        with self._lock:
            self.state.fps[camera] = 0.0

    def camera_up(self, camera: str) -> None:
        with self._lock:
            self.state.fps[camera] = DETECT_FPS

    def motion(self, camera: str, on: bool) -> None:
        with self._lock:
            if on == (camera in self.state.moving):
                return  # Frigate sends ON once, OFF after mqtt_off_delay without motion
            (self.state.moving.add if on else self.state.moving.discard)(camera)
        self._send(f"{camera}/motion", "ON" if on else "OFF")

    def detect(self, camera: str, label: str = "person", score: float = 0.87) -> bytes:
        """Someone walks in: motion, a tracked object, its snapshot; returns the JPEG sent."""
        self.motion(camera, True)
        now = time.time()
        event = _tracked(camera, label, score, now)
        with self._lock:
            self.state.tracked[camera] = event
        self._event("new", event, event)
        self._send(f"{camera}/{label}", "1")
        jpeg = snapshot(f"{camera} {label} {now:.3f}")
        self._send(f"{camera}/{label}/snapshot", jpeg, retain=True)
        self._event("update", event, {**event, "has_snapshot": True, "frame_time": time.time()})
        return jpeg

    def detection_ends(self, camera: str) -> None:
        with self._lock:
            event = self.state.tracked.pop(camera, None)
        if event is None:
            return
        self._event("end", event, {**event, "has_snapshot": True, "end_time": time.time(), "active": False})
        self._send(f"{camera}/{event['label']}", "0")

    def _event(self, kind: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        self._send("events", json.dumps({"type": kind, "before": before, "after": after}))

    # --- settings --------------------------------------------------------------------

    def _on_message(self, msg: Received) -> None:
        name = msg.topic[len(self.prefix) + 1 :]
        if not name.endswith("/set"):
            return  # its own messages, read back through its ``<prefix>/#`` subscription
        value = msg.payload.decode("utf-8", "replace").strip().upper()
        setting = name[: -len("/set")]
        with self._lock:
            self.state.commands.append((name, value))
            known = setting in self.state.settings and value in ("ON", "OFF")
            if known:
                self.state.settings[setting] = value
        if known:
            self._send(f"{setting}/state", value, retain=True)

    # --- stats -----------------------------------------------------------------------

    def _stats_loop(self) -> None:
        if self._stop.wait(self._first_stats_s):
            return
        while True:
            if self.link.connected:
                self.publish_stats()
            if self._stop.wait(self._stats_interval_s):
                return

    def publish_stats(self) -> None:
        with self._lock:
            fps = dict(self.state.fps)
        cameras = {name: _camera_stats(rate, i) for i, (name, rate) in enumerate(fps.items())}
        total = round(sum(fps.values()), 2)
        storage = {"total": 953869.7, "used": 412380.2, "free": 541489.5, "mount_type": "ext4"}
        stats = {
            "cameras": cameras,
            "detectors": {"cpu": {"inference_speed": 11.42, "detection_start": 0.0, "pid": 412}},
            "camera_fps": total,
            "process_fps": total,
            "skipped_fps": 0.0,
            "detection_fps": round(sum(c["detection_fps"] for c in cameras.values()), 2),
            "embeddings": {},
            "processes": {"go2rtc": {"pid": 96}, "recording": {"pid": 380}, "review_segment": {"pid": 381}},
            "service": {
                "uptime": int(time.monotonic() - self._started),
                "version": VERSION,
                "latest_version": VERSION,
                "storage": {"/media/frigate/recordings": storage, "/tmp/cache": {}},
                "last_updated": int(time.time()),
            },
        }
        self._send("stats", json.dumps(stats))


def _camera_stats(rate: float, i: int) -> dict[str, Any]:
    up = rate > 0
    return {
        "camera_fps": rate,
        "process_fps": rate,
        "skipped_fps": 0.0,
        "detection_fps": 0.4 if up else 0.0,
        "detection_enabled": True,
        "pid": 500 + i if up else None,
        "capture_pid": 520 + i if up else None,
        "ffmpeg_pid": 540 + i if up else None,
        "audio_rms": 0.0,
        "audio_dBFS": 0.0,
        "connection_quality": "excellent" if up else "unusable",
        "expected_fps": int(DETECT_FPS),
        "reconnects_last_hour": 0,
        "stalls_last_hour": 0,
    }


def _tracked(camera: str, label: str, score: float, now: float) -> dict[str, Any]:
    suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=6))
    return {
        "id": f"{now:.6f}-{suffix}",
        "camera": camera,
        "frame_time": now,
        "label": label,
        "sub_label": None,
        "top_score": score,
        "false_positive": False,
        "start_time": now,
        "end_time": None,
        "score": score,
        "box": [424, 500, 536, 712],
        "area": 23744,
        "ratio": 0.53,
        "region": [264, 450, 667, 853],
        "current_zones": [],
        "entered_zones": [],
        "thumbnail": None,
        "has_snapshot": False,
        "has_clip": False,
        "active": True,
        "stationary": False,
        "motionless_count": 0,
        "position_changes": 0,
        "attributes": {},
        "current_attributes": [],
    }
