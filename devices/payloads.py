"""Pydantic models of every native payload, with the bounds the hub enforces."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from devices.topics import IDENT_PATTERN

MAX_PAYLOAD_BYTES = 8192
# Milliseconds since the Unix epoch; the upper bound keeps values exact in JavaScript
# and in float-based firmware JSON parsers.
EpochMs = Annotated[int, Field(ge=0, le=2**53 - 1)]
CommandId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Ident = Annotated[str, Field(pattern=IDENT_PATTERN)]
Percent = Annotated[int, Field(ge=0, le=100)]
ShortText = Annotated[str, Field(max_length=200)]


class Kind(StrEnum):
    LIGHT = "light"
    SPEAKER = "speaker"
    CAMERA = "camera"
    GATEWAY = "gateway"


class Priority(StrEnum):
    """Bulletin levels of Circular 39/2020/TT-BTTTT."""

    NORMAL = "normal"
    PRIORITY = "priority"
    EMERGENCY = "emergency"


class LampFault(StrEnum):
    LAMP_FAILURE = "lamp_failure"
    DRIVER_FAILURE = "driver_failure"
    OVERHEAT = "overheat"
    NO_LOAD = "no_load"


class Playback(StrEnum):
    IDLE = "idle"
    SCHEDULED = "scheduled"
    PLAYING = "playing"
    FINISHED = "finished"
    FAILED = "failed"
    STOPPED = "stopped"
    INTERRUPTED = "interrupted"


class Storage(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    FULL = "full"
    FAILED = "failed"
    ABSENT = "absent"


class Availability(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class Payload(BaseModel):
    """Base of every wire model: strict types, unknown fields refused, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- info: the device describes itself (retained) -------------------------------------


class DeviceInfo(Payload):
    v: Literal[1] = 1
    kind: Kind
    model: Annotated[str, Field(min_length=1, max_length=64)]
    firmware: Annotated[str, Field(min_length=1, max_length=32)]
    capabilities: Annotated[list[Annotated[str, Field(max_length=32)]], Field(max_length=16)] = []
    via: Ident | None = None
    rated_w: Annotated[float, Field(gt=0, le=5000)] | None = None


# --- commands: hub -> device (never retained) -----------------------------------------


class CommandBase(Payload):
    id: CommandId
    exp: EpochMs | None = None


class LightSet(CommandBase):
    action: Literal["set"] = "set"
    on: bool | None = None
    level: Percent | None = None

    @model_validator(mode="after")
    def _something_to_do(self) -> LightSet:
        if self.on is None and self.level is None:
            raise ValueError("a light command sets 'on', 'level' or both")
        return self


class SpeakerPlay(CommandBase):
    action: Literal["play"] = "play"
    announcement: CommandId
    url: Annotated[str, Field(min_length=8, max_length=2048, pattern=r"^https?://")]
    priority: Priority = Priority.NORMAL
    start_at: EpochMs
    volume: Percent | None = None


class SpeakerStop(CommandBase):
    action: Literal["stop"] = "stop"
    announcement: CommandId | None = None


class SpeakerVolume(CommandBase):
    action: Literal["volume"] = "volume"
    volume: Percent


LightCommand = LightSet
SpeakerCommand = Annotated[SpeakerPlay | SpeakerStop | SpeakerVolume, Field(discriminator="action")]
Command = LightSet | SpeakerPlay | SpeakerStop | SpeakerVolume


# --- state: device -> hub (retained, after acting) ------------------------------------


class StateBase(Payload):
    ts: EpochMs
    cmd: CommandId | None = None
    error: ShortText | None = None


class LightState(StateBase):
    kind: Literal[Kind.LIGHT] = Kind.LIGHT
    on: bool
    level: Percent
    power_w: Annotated[float, Field(ge=0, le=5000)]
    fault: LampFault | None = None


class SpeakerState(StateBase):
    kind: Literal[Kind.SPEAKER] = Kind.SPEAKER
    volume: Percent
    playback: Playback
    announcement: CommandId | None = None
    priority: Priority | None = None
    started_at: EpochMs | None = None
    finished_at: EpochMs | None = None
    # Whether the clock that read ``started_at`` is NTP-synchronised, and its offset from NTP
    # time (positive: ahead) as the device's time daemon estimates it (docs/protocol.md §6.5).
    clock_synced: bool | None = None
    clock_offset_ms: Annotated[float, Field(ge=-86_400_000, le=86_400_000)] | None = None


class CameraState(StateBase):
    kind: Literal[Kind.CAMERA] = Kind.CAMERA
    recording: bool
    motion: bool
    tampering: bool
    storage: Storage


DeviceState = Annotated[LightState | SpeakerState | CameraState, Field(discriminator="kind")]


# --- events: device -> hub (not retained) ---------------------------------------------


class EventBase(Payload):
    ts: EpochMs


class Heartbeat(EventBase):
    type: Literal["heartbeat"] = "heartbeat"
    uptime_s: Annotated[int, Field(ge=0, le=10**10)]


class MotionEvent(EventBase):
    type: Literal["motion"] = "motion"
    active: bool
    score: Annotated[float, Field(ge=0, le=1)] | None = None


class TamperingEvent(EventBase):
    type: Literal["tampering"] = "tampering"
    active: bool


class LampFaultEvent(EventBase):
    type: Literal["lamp_fault"] = "lamp_fault"
    fault: LampFault | None
    detail: ShortText | None = None


class StorageEvent(EventBase):
    type: Literal["storage"] = "storage"
    storage: Storage


class DetectionEvent(EventBase):
    """Something the camera recognised (a person, a car at the entrance), from its start to its end."""

    type: Literal["detection"] = "detection"
    active: bool
    label: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$")]
    score: Annotated[float, Field(ge=0, le=1)] | None = None


DeviceEvent = Annotated[
    Heartbeat | MotionEvent | TamperingEvent | LampFaultEvent | StorageEvent | DetectionEvent,
    Field(discriminator="type"),
]

EVENTS_BY_KIND: dict[Kind, frozenset[str]] = {
    Kind.LIGHT: frozenset({"heartbeat", "lamp_fault"}),
    Kind.SPEAKER: frozenset({"heartbeat"}),
    Kind.CAMERA: frozenset({"heartbeat", "motion", "tampering", "storage", "detection"}),
    Kind.GATEWAY: frozenset({"heartbeat"}),
}

CAPABILITIES: dict[Kind, frozenset[str]] = {
    Kind.LIGHT: frozenset({"switch", "dim", "power_meter", "fault_report"}),
    Kind.SPEAKER: frozenset({"play", "stop", "volume", "sync_start"}),
    Kind.CAMERA: frozenset({"recording", "motion", "tampering", "storage", "heartbeat"}),
    Kind.GATEWAY: frozenset(),
}
