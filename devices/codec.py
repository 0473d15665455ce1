"""Codecs translate between a wire protocol and the typed messages of ``devices.messages``.

The hub only ever sees ``Inbound`` and ``CommandOrder``; the Tasmota, Zigbee2MQTT, ESPHome
and Frigate codecs (``devices.protocols``) plug in beside the native one through ``Codec``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pydantic import TypeAdapter, ValidationError

from devices import topics
from devices.messages import (
    AvailabilityReport,
    CommandOrder,
    Decoded,
    EventReport,
    Inbound,
    InfoReport,
    Outbound,
    Rejected,
    RejectReason,
    Source,
    StateReport,
)
from devices.payloads import MAX_PAYLOAD_BYTES, Availability, DeviceEvent, DeviceInfo, DeviceState


@dataclass(frozen=True, slots=True)
class DeviceTopics:
    """What a device's own broker account may publish and read (topic filters)."""

    publish: tuple[str, ...]
    read: tuple[str, ...]


class Codec(Protocol):
    """What the hub needs from a wire protocol."""

    name: str

    def subscriptions(self) -> list[str]:
        """Topic filters the hub must subscribe to for this protocol."""
        ...

    def claims(self, topic: str) -> bool:
        """True when ``topic`` belongs to this protocol."""
        ...

    def decode(self, topic: str, payload: bytes) -> Decoded:
        """Turn one received message into typed messages, or raise ``Rejected``.

        A list when one message speaks for several devices (a bridge's device list, a
        Frigate's stats), empty when it says nothing the hub keeps; a ``Rejected`` in the
        list refuses (and counts) one of them without dropping the others.
        """
        ...

    def encode(self, order: CommandOrder) -> Outbound:
        """Turn a command for one device into a message for the broker."""
        ...

    def hub_publishes(self) -> list[str]:
        """Topic filters the hub's broker account may publish to for this protocol."""
        ...

    def device_topics(self, area: str, device: str, gateway: bool) -> DeviceTopics:
        """The topics of one device's (or bridge's) own account."""
        ...

    def offline(self, area: str, device: str) -> Outbound | None:
        """The retained "offline" the hub publishes for a device whose account it revoked."""
        ...

    def setup(self, area: str, device: str, username: str, password: str, host: str, port: int) -> list[str]:
        """What to type into the device's own settings to join the hub, line by line."""
        ...


_STATE = TypeAdapter[DeviceState](DeviceState)
_EVENT = TypeAdapter[DeviceEvent](DeviceEvent)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err["loc"]) or "payload"
    return f"{where}: {err['msg']} ({exc.error_count()} error(s))"


class NativeCodec:
    """The hub's own JSON protocol, documented in docs/protocol.md."""

    name = "native"

    def subscriptions(self) -> list[str]:
        return topics.hub_subscriptions()

    def claims(self, topic: str) -> bool:
        return topic.startswith(topics.ROOT + "/")

    def decode(self, topic: str, payload: bytes) -> Inbound:
        parsed = topics.parse(topic)
        if parsed is None or parsed.channel is topics.Channel.CMD:
            raise Rejected(RejectReason.BAD_TOPIC, f"not a device report topic: {topic[:200]!r}")
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise Rejected(RejectReason.OVERSIZED, f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
        source = Source(parsed.area, parsed.device, self.name)
        try:
            if parsed.channel is topics.Channel.STATUS:
                return AvailabilityReport(source, self._availability(payload))
            if parsed.channel is topics.Channel.INFO:
                return InfoReport(source, DeviceInfo.model_validate_json(payload))
            if parsed.channel is topics.Channel.STATE:
                return StateReport(source, _STATE.validate_json(payload))
            return EventReport(source, _EVENT.validate_json(payload))
        except ValidationError as exc:
            kinds = {e["type"] for e in exc.errors()}
            reason = RejectReason.MALFORMED_JSON if "json_invalid" in kinds else RejectReason.INVALID
            raise Rejected(reason, _first_error(exc)) from None

    @staticmethod
    def _availability(payload: bytes) -> Availability:
        try:
            text = payload.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise Rejected(RejectReason.NOT_UTF8, "availability is not UTF-8") from None
        try:
            return Availability(text)
        except ValueError:
            raise Rejected(
                RejectReason.INVALID, f"availability must be online or offline, got {text[:40]!r}"
            ) from None

    def encode(self, order: CommandOrder) -> Outbound:
        name = topics.topic(order.area, order.device, topics.Channel.CMD)
        body = order.command.model_dump_json(exclude_none=True).encode()
        return Outbound(name, body, qos=1, retain=False)

    def hub_publishes(self) -> list[str]:
        return [f"{topics.ROOT}/+/+/{c.value}" for c in (topics.Channel.CMD, topics.Channel.STATUS)]

    def device_topics(self, area: str, device: str, gateway: bool) -> DeviceTopics:
        own = (topics.Channel.STATE, topics.Channel.STATUS, topics.Channel.EVENT, topics.Channel.INFO)
        return DeviceTopics(
            tuple(topics.topic(area, device, c) for c in own),
            (topics.topic(area, device, topics.Channel.CMD),),
        )

    def offline(self, area: str, device: str) -> Outbound | None:
        name = topics.topic(area, device, topics.Channel.STATUS)
        return Outbound(name, Availability.OFFLINE.value.encode(), qos=1, retain=True)

    def setup(self, area: str, device: str, username: str, password: str, host: str, port: int) -> list[str]:
        return [
            f"broker: {host}:{port}",
            f"username and client id: {username}",
            f"password: {password}",
            f"topics: {topics.ROOT}/{area}/{device}/<channel> (docs/protocol.md)",
        ]


def encode_report(area: str, device: str, channel: topics.Channel, body: bytes) -> Outbound:
    """Build a device-side report; state, status and info are retained, events are not."""
    retain = channel in (topics.Channel.STATE, topics.Channel.STATUS, topics.Channel.INFO)
    return Outbound(topics.topic(area, device, channel), body, qos=1, retain=retain)
