"""The wire protocols the hub speaks, one codec each (docs/protocol.md §9 and on)."""

from __future__ import annotations

from typing import Literal

from devices.codec import Codec, NativeCodec
from devices.payloads import Kind
from devices.protocols.enrolment import EnrolmentCodec
from devices.protocols.esphome import EsphomeCodec
from devices.protocols.frigate import FrigateCodec
from devices.protocols.tasmota import TasmotaCodec
from devices.protocols.zigbee2mqtt import Zigbee2MqttCodec

Protocol = Literal["native", "tasmota", "zigbee2mqtt", "esphome", "frigate"]

# What the head may add in each protocol: a bridge's lights and cameras come through it.
KINDS_BY_PROTOCOL: dict[str, tuple[Kind, ...]] = {
    "native": tuple(Kind),
    "tasmota": (Kind.LIGHT,),
    "esphome": (Kind.LIGHT,),
    "zigbee2mqtt": (Kind.GATEWAY,),
    "frigate": (Kind.GATEWAY,),
}


def all_codecs() -> list[Codec]:
    """A fresh codec of every protocol (they remember devices: one set per hub)."""
    return [
        NativeCodec(),
        TasmotaCodec(),
        Zigbee2MqttCodec(),
        EsphomeCodec(),
        FrigateCodec(),
        EnrolmentCodec(),
    ]
