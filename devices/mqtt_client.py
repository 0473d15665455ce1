"""The one module that talks to paho-mqtt; everything else uses ``MqttLink``.

Facts this encodes (see DESIGN.md): VERSION2 callbacks, subscriptions restored in
``on_connect`` after every reconnect, ``connect_async`` so a broker that is still
starting is retried, every callback guarded so an exception cannot kill the network
thread, a bounded publish queue, TCP_NODELAY so small packets are not held back, and
any message from the broker counted as an answer to a ping (see ``_message``).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from devices.messages import Outbound

log = logging.getLogger(__name__)
_SUBS_PER_PACKET = 500
_PUBACK = struct.Struct("!BBH")  # PUBACK of MQTT 3.1.1 (the link's protocol): type, length 2, id


@dataclass(frozen=True, slots=True)
class Received:
    """One message as it came off the broker."""

    topic: str
    payload: bytes
    retain: bool
    qos: int
    mid: int = 0


@dataclass(frozen=True, slots=True)
class Credentials:
    """A broker account: every device, the hub and each tool has its own."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials({self.username!r}, <hidden>)"


class Receipt:
    """Tells whether the broker acknowledged one QoS 1 message."""

    def __init__(self, info: paho.MQTTMessageInfo) -> None:
        self._info = info

    def done(self) -> bool:
        return self._info.is_published()


@dataclass(frozen=True, slots=True)
class LinkConfig:
    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    # A persistent session keeps QoS 1 messages for us while we are away.
    persistent: bool = True
    keepalive: int = 30
    max_queued: int = 100_000
    # With manual acknowledgement a QoS 1 message is only PUBACKed once the receiver
    # called ``ack``: the broker redelivers whatever a crash left unacknowledged.
    manual_ack: bool = False
    will: Outbound | None = None
    birth: Outbound | None = None
    subscriptions: Sequence[str] = field(default_factory=tuple)
    # paho's reconnect back-off doubles from 1 s up to this; devices on the street use 60 s.
    reconnect_max_s: int = 8
    # A CA certificate file: connect with TLS, checking the broker's certificate against it.
    tls_ca_file: str | None = None


class MqttLink:
    """A connection to the broker that keeps itself connected and subscribed."""

    def __init__(
        self,
        config: LinkConfig,
        on_message: Callable[[Received], None] | None = None,
        on_connected: Callable[[], None] | None = None,
        on_disconnected: Callable[[], None] | None = None,
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self._on_message = on_message
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        # Told the broker's reason when it refuses the CONNECT (paho retries by itself).
        self._on_refused = on_refused
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        # SUBSCRIBE packets not acknowledged yet on this connection: mid -> their filters.
        self._pending_subs: dict[int, Sequence[str]] = {}
        self._unsubacks = threading.Condition()
        self._unsubacked: set[int] = set()
        self.connects = 0
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            clean_session=not config.persistent,
            protocol=paho.MQTTv311,
            manual_ack=config.manual_ack,
        )
        if config.username is not None:
            client.username_pw_set(config.username, config.password)
        if config.tls_ca_file is not None:
            client.tls_set(ca_certs=config.tls_ca_file)
        if config.will is not None:
            w = config.will
            client.will_set(w.topic, w.payload, qos=w.qos, retain=w.retain)
        client.max_queued_messages_set(config.max_queued)
        # No in-flight limit (the queue above still bounds memory): with one, paho walks
        # every unacknowledged message on each PUBACK to find one to release, O(n) per
        # acknowledgement, which was the largest single cost of a 1,000-device fan-out.
        client.max_inflight_messages_set(0)
        client.reconnect_delay_set(min_delay=1, max_delay=config.reconnect_max_s)
        client.on_socket_open = self._socket_open
        client.on_connect = self._connect
        client.on_disconnect = self._disconnect
        client.on_message = self._message
        client.on_subscribe = self._subscribe
        client.on_unsubscribe = self._unsubscribed
        self._client = client

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        """Connect in the background; retries until the broker answers."""
        self._client.connect_async(self.config.host, self.config.port, self.config.keepalive)
        self._client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    @property
    def subscribed(self) -> bool:
        """True once the broker granted every subscription of the config on this connection."""
        return self._subscribed.is_set()

    def wait_subscribed(self, timeout: float) -> bool:
        return self._subscribed.wait(timeout)

    def stop(self) -> None:
        """Disconnect cleanly: the broker discards the Last Will."""
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()
        self._subscribed.clear()

    def abort(self) -> None:
        """Drop the connection without DISCONNECT, as a crash would: the Last Will fires."""
        sock = self._client.socket()
        self._client.loop_stop()
        if sock is not None:
            sock.close()
        self._connected.clear()
        self._subscribed.clear()

    def publish(self, out: Outbound) -> bool:
        """Queue a message; False when it was refused (queue full, or no connection for QoS 0)."""
        info = self._queue(out)
        return info is not None and (info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS or out.qos > 0)

    def publish_with_receipt(self, out: Outbound) -> Receipt | None:
        """Queue a message and keep a receipt; None when it was refused."""
        info = self._queue(out)
        return Receipt(info) if info is not None else None

    def _queue(self, out: Outbound) -> paho.MQTTMessageInfo | None:
        info = self._client.publish(out.topic, out.payload, qos=out.qos, retain=out.retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.warning("publish to %s refused: %s", out.topic, paho.error_string(info.rc))
            return None
        return info

    def ack(self, received: Sequence[tuple[int, int]]) -> None:
        """Acknowledge messages received with ``manual_ack``: (mid, qos) each, in order.

        paho's ``ack`` wakes the network thread through its socket pair once per message;
        a thread acknowledging a thousand messages after one commit then waited for the GIL
        a thousand times, while that network thread took in the next messages. The PUBACKs
        are queued together here, with one wake-up. paho 2.1-2.2 queue packets this way;
        without those internals each is acknowledged through ``ack``.
        """
        client: Any = self._client
        out, wake = getattr(client, "_out_packet", None), getattr(client, "_sockpairW", None)
        if out is None or wake is None:
            for mid, qos in received:
                if qos > 0:
                    self._client.ack(mid, qos)
            return
        for mid, qos in received:
            if qos == 1:
                packet = _PUBACK.pack(paho.PUBACK, 2, mid)
                out.append(
                    {
                        "command": paho.PUBACK,
                        "mid": mid,
                        "qos": 1,
                        "pos": 0,
                        "to_process": len(packet),
                        "packet": packet,
                        "info": None,
                    }
                )
            elif qos == 2:
                self._client.ack(mid, qos)
        with contextlib.suppress(BlockingIOError):
            wake.send(b"0")

    def subscribe(self, topic_filter: str) -> None:
        """Subscribe now (also restored on reconnect only if listed in the config)."""
        self._client.subscribe(topic_filter, qos=1)

    def unsubscribe(self, filters: Sequence[str], timeout: float) -> bool:
        """Unsubscribe now and wait for the broker's UNSUBACK; False if none came in time."""
        result, mid = self._client.unsubscribe(list(filters))
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            return False
        with self._unsubacks:
            answered = self._unsubacks.wait_for(lambda: mid in self._unsubacked, timeout)
            self._unsubacked.discard(mid)
        return answered

    # --- paho callbacks: every one guarded, none holds a lock of ours -------------

    def _unsubscribed(self, client: paho.Client, userdata: Any, mid: int, *_: Any) -> None:
        with self._unsubacks:  # held only to note the id, never while calling paho
            self._unsubacked.add(mid)
            self._unsubacks.notify_all()

    def _socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        try:
            if isinstance(sock, socket.socket):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except Exception:
            log.exception("could not set TCP_NODELAY")

    def _connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        try:
            if reason.is_failure:
                log.error("broker refused %s: %s", self.config.client_id, reason)
                if self._on_refused is not None:
                    self._on_refused(str(reason))
                return
            subs = list(self.config.subscriptions)
            # A gateway reads one filter per device: thousands would not fit in one packet
            # under the broker's max_packet_size.
            chunks = [subs[i : i + _SUBS_PER_PACKET] for i in range(0, len(subs), _SUBS_PER_PACKET)]
            self._pending_subs = {}
            for chunk in chunks:
                _, mid = client.subscribe([(t, 1) for t in chunk])
                if mid is not None:
                    self._pending_subs[mid] = chunk
            if not chunks:
                self._subscribed.set()
            if self.config.birth is not None:
                b = self.config.birth
                client.publish(b.topic, b.payload, qos=b.qos, retain=b.retain)
            self.connects += 1
            self._connected.set()
            log.info("connected %s to %s:%s", self.config.client_id, self.config.host, self.config.port)
            if self._on_connected is not None:
                self._on_connected()
        except Exception:
            log.exception("error in on_connect")

    def _disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        try:
            was = self._connected.is_set()
            self._connected.clear()
            self._subscribed.clear()
            if was:
                level = logging.WARNING if reason.is_failure else logging.INFO
                log.log(level, "disconnected %s: %s", self.config.client_id, reason)
            if self._on_disconnected is not None:
                self._on_disconnected()
        except Exception:
            log.exception("error in on_disconnect")

    def _subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: list[ReasonCode], props: Any
    ) -> None:
        try:
            chunk = self._pending_subs.get(mid)
            if chunk is None:
                return
            refused = [t for t, r in zip(chunk, reasons, strict=False) if r.is_failure]
            if refused:
                # An ACL said no: this account may not read these topics.
                log.error("broker refused %s the subscriptions %s", self.config.client_id, refused[:20])
                return
            del self._pending_subs[mid]
            if not self._pending_subs:
                self._subscribed.set()
        except Exception:
            log.exception("error in on_subscribe")

    def _message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        try:
            # Any packet from the broker proves the connection alive, as a PINGRESP would.
            # A subscription matching 100,000 retained messages puts the PINGRESP behind
            # them all, and paho 2.1-2.2 then closes a busy, healthy link as "Keep alive
            # timeout" (its re-ping while bytes still arrive loses a sub-millisecond race),
            # and the reconnect's subscription sends every retained message again.
            # Clearing the wait lets paho ping again one keep-alive later, as usual.
            if getattr(client, "_ping_t", 0):
                client._ping_t = 0
            if self._on_message is not None:
                self._on_message(Received(msg.topic, bytes(msg.payload), bool(msg.retain), msg.qos, msg.mid))
        except Exception:
            log.exception("error handling message on %s", msg.topic)
