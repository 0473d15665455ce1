"""Typed messages exchanged between codecs and the hub's domain code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from devices.payloads import (
    Availability,
    CameraState,
    Command,
    DetectionEvent,
    DeviceInfo,
    Heartbeat,
    LampFaultEvent,
    LightState,
    MotionEvent,
    SpeakerState,
    StorageEvent,
    TamperingEvent,
)

AnyState = LightState | SpeakerState | CameraState
AnyEvent = Heartbeat | MotionEvent | TamperingEvent | LampFaultEvent | StorageEvent | DetectionEvent


class RejectReason(StrEnum):
    """Why an inbound message was refused; also the label of the rejection counter."""

    OVERSIZED = "oversized"
    NOT_UTF8 = "not_utf8"
    MALFORMED_JSON = "malformed_json"
    INVALID = "invalid"
    BAD_TOPIC = "bad_topic"
    UNKNOWN_AREA = "unknown_area"
    UNKNOWN_DEVICE = "unknown_device"
    KIND_MISMATCH = "kind_mismatch"
    WRONG_EVENT = "wrong_event_for_kind"
    STALE = "stale"
    RETIRED = "retired_device"
    VIA_MISMATCH = "via_mismatch"
    OVERLOADED = "overloaded"
    ENROLMENT_CLOSED = "enrolment_closed"
    ENROLMENT_FLOOD = "enrolment_flood"


class Rejected(Exception):
    """An inbound message that does not meet the protocol."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Source:
    """Which device a message concerns, and which codec understood it."""

    area: str
    device: str
    codec: str
    # A retained message replayed by the broker says nothing about the device being alive now.
    retained: bool = False
    # The bridge whose topic tree carried the message (Zigbee2MQTT, Frigate): it may speak
    # only for the devices registered behind it.
    via: str | None = None
    # Read on a topic any enrolling device may write (Tasmota's discovery): it may make a
    # pending device, never change a known one.
    unverified: bool = False


@dataclass(frozen=True, slots=True)
class InfoReport:
    source: Source
    info: DeviceInfo
    # A device enrolling itself chose the password its account will have once accepted.
    secret: str | None = None


@dataclass(frozen=True, slots=True)
class AvailabilityReport:
    source: Source
    availability: Availability


@dataclass(frozen=True, slots=True)
class StateReport:
    source: Source
    state: AnyState


@dataclass(frozen=True, slots=True)
class EventReport:
    source: Source
    event: AnyEvent


@dataclass(frozen=True, slots=True)
class SnapshotReport:
    """A camera's latest picture of something it detected (Frigate), JPEG."""

    source: Source
    label: str
    jpeg: bytes


Inbound = InfoReport | AvailabilityReport | StateReport | EventReport | SnapshotReport
# What a codec makes of one message: a list when it speaks for several devices, where a
# ``Rejected`` refuses one of them without dropping the rest.
Decoded = Inbound | Sequence[Inbound | Rejected]


@dataclass(frozen=True, slots=True)
class Outbound:
    """A message ready for the broker. Commands are never retained."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


@dataclass(frozen=True, slots=True)
class CommandOrder:
    """A command the hub wants delivered to one device."""

    area: str
    device: str
    command: Command
