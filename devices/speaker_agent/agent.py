"""The agent's MQTT side: one connection as ``<area>.<device>``, as docs/protocol.md §3 asks.

On every connection: subscribe to its ``cmd`` topic, then ``info``, ``online`` and its state
(retained, QoS 1); a heartbeat every 30 s; Last Will ``offline``. Reconnects back off from
1 s to 60 s. A refused account (CONNACK 5, "not authorised") ends the agent with one log
line and exit status 3, which its systemd unit does not restart: a deleted or renewed account
will not come back by itself. While enrolling, refusals are expected until the area head
accepts the speaker; that wait is bounded (``enrol_wait_s``).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from devices import topics
from devices.messages import Outbound
from devices.mqtt_client import LinkConfig, MqttLink, Received
from devices.payloads import DeviceInfo, Heartbeat, Kind, SpeakerState
from devices.speaker_agent import config as cfg
from devices.speaker_agent.audio import AudioCache, decoders
from devices.speaker_agent.clock import ClockStatus, probe
from devices.speaker_agent.output import Mixer, now_ms
from devices.speaker_agent.player import Speaker

log = logging.getLogger("khu-speaker")
EXIT_REFUSED = 3
HEARTBEAT_S = 30.0
CLOCK_CHECK_S = 60.0
FIRMWARE = "khu-speaker 1.0"


def capabilities(clock: ClockStatus) -> list[str]:
    """What the speaker can promise: ``sync_start`` only on a synchronised clock (§5.6)."""
    return ["play", "stop", "volume", *(["sync_start"] if clock.synced else [])]


class Agent:
    def __init__(self, config: cfg.AgentConfig, config_path: Path | None = None) -> None:
        self.config = config
        self._config_path = config_path
        self._clock = probe(config.clock_source)
        cache_dir = Path(config.cache_dir)
        cache_dir.mkdir(parents=True, exist_ok=True)
        cache = AudioCache(
            cache_dir / "audio",
            config.cache_max_mb * 1024 * 1024,
            config.max_audio_bytes,
            config.fetch_timeout_s,
            config.https_ca_file,
        )
        mixer = Mixer(config.mixer_card, config.mixer_control)
        self.speaker = Speaker(
            cache, mixer, config.alsa_device, lambda: self._clock, cache_dir / "state.json"
        )
        self.speaker.report = self._publish_state
        self._booted = time.monotonic()
        self._stopping = threading.Event()
        self._refused: list[str] = []
        self._wake = threading.Event()
        area, device = config.area, config.device
        self._link = MqttLink(
            LinkConfig(
                host=config.host,
                port=config.port,
                client_id=config.username,
                username=config.username,
                password=config.password,
                persistent=True,
                keepalive=30,
                will=Outbound(
                    topics.topic(area, device, topics.Channel.STATUS), b"offline", qos=1, retain=True
                ),
                subscriptions=[topics.device_subscription(area, device)],
                reconnect_max_s=60,
                tls_ca_file=config.ca_file or None,
            ),
            on_message=self._message,
            on_connected=self._connected,
            on_refused=self._on_refused,
        )

    def _topic(self, channel: topics.Channel) -> str:
        return topics.topic(self.config.area, self.config.device, channel)

    def info(self) -> DeviceInfo:
        return DeviceInfo(
            kind=Kind.SPEAKER,
            model=self.config.model,
            firmware=FIRMWARE,
            capabilities=capabilities(self._clock),
        )

    # --- paho's thread ----------------------------------------------------------------

    def _connected(self) -> None:
        # The subscription went out first (MqttLink), then info, online, state (§3.2).
        self._send(topics.Channel.INFO, self.info().model_dump_json(exclude_none=True).encode(), retain=True)
        self._send(topics.Channel.STATUS, b"online", retain=True)
        self._publish_state(self.speaker.current())
        self._wake.set()

    def _on_refused(self, reason: str) -> None:
        self._refused.append(reason)
        self._wake.set()

    def _message(self, msg: Received) -> None:
        if msg.topic == self._topic(topics.Channel.CMD):
            self.speaker.handle(msg.payload, msg.retain)

    def _publish_state(self, state: SpeakerState) -> None:
        self._send(topics.Channel.STATE, state.model_dump_json(exclude_none=True).encode(), retain=True)

    def _send(self, channel: topics.Channel, payload: bytes, retain: bool = False) -> None:
        self._link.publish(Outbound(self._topic(channel), payload, qos=1, retain=retain))

    # --- the main thread --------------------------------------------------------------

    def run(self) -> int:
        """Connect and serve until ``stop`` (0) or a refused account (EXIT_REFUSED)."""
        c = self.config
        log.info(
            "speaker %s of area %s, broker %s:%d%s",
            c.device,
            c.area,
            c.host,
            c.port,
            " (TLS)" if c.ca_file else "",
        )
        log.info(
            "ALSA device %r, mixer %r on card %s, decoders %s",
            c.alsa_device,
            c.mixer_control,
            c.mixer_card,
            decoders() or "none (WAV only)",
        )
        log.info(self._clock.describe())
        self._link.start()
        deadline = time.monotonic() + c.enrol_wait_s
        next_beat = next_clock = time.monotonic() + HEARTBEAT_S
        waiting = False
        while not self._stopping.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            if self._refused:
                reason = self._refused.pop()
                self._refused.clear()
                if self.config.accepted:
                    log.error(
                        "the broker refused the account %s (%s): it was deleted, renewed or never existed; "
                        "not retrying. Ask the area head for the account the app shows and run "
                        "'khu-speaker account', or enrol again",
                        c.username,
                        reason,
                    )
                    return self._close(EXIT_REFUSED, announce=False)
                if time.monotonic() > deadline:
                    log.error(
                        "not accepted within %d min of enrolling (the broker still refuses %s): giving up. "
                        "Ask the area head to open enrolment and accept the speaker, then run "
                        "'khu-speaker enrol' again",
                        c.enrol_wait_s // 60,
                        c.username,
                    )
                    return self._close(EXIT_REFUSED, announce=False)
                if not waiting:
                    waiting = True
                    log.info(
                        "waiting for the area head to accept %s in the app: refused until then, retrying "
                        "with back-off (at most 60 s) for up to %d min",
                        c.username,
                        c.enrol_wait_s // 60,
                    )
            if self._link.connected and not self.config.accepted:
                self._accepted()
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + HEARTBEAT_S
                if self._link.connected:
                    beat = Heartbeat(ts=round(now_ms()), uptime_s=int(now - self._booted))
                    self._send(topics.Channel.EVENT, beat.model_dump_json().encode())
            if now >= next_clock:
                next_clock = now + CLOCK_CHECK_S
                self._check_clock()
        return self._close(0, announce=True)

    def _accepted(self) -> None:
        self.config = self.config.with_changes(accepted=True)
        log.info("accepted: connected as %s; from now on a refused account is final", self.config.username)
        if self._config_path is not None:
            cfg.save(self.config, self._config_path)

    def _check_clock(self) -> None:
        before, self._clock = self._clock, probe(self.config.clock_source)
        if before.synced != self._clock.synced:
            log.warning("%s", self._clock.describe())
            if self._link.connected:  # sync_start comes or goes with the clock
                self._send(
                    topics.Channel.INFO, self.info().model_dump_json(exclude_none=True).encode(), retain=True
                )

    def _close(self, code: int, announce: bool) -> int:
        if announce:
            self.speaker.shutdown()
            if self._link.connected:
                self._send(topics.Channel.STATUS, b"offline", retain=True)
                time.sleep(0.3)  # let the QoS 1 publishes out before DISCONNECT
        self._link.stop()
        return code

    def stop(self) -> None:
        """Planned stop (SIGTERM): interrupted, offline, then a clean disconnect."""
        self._stopping.set()
        self._wake.set()
