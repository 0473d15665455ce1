"""The simulated device kinds, and building one from its spec."""

from __future__ import annotations

import random

from devices.payloads import Kind
from devices.sim.camera import SimCamera
from devices.sim.layout import DeviceSpec, SimTimings
from devices.sim.light import SimLight
from devices.sim.scheduler import Scheduler
from devices.sim.speaker import SimSpeaker

AnySimDevice = SimLight | SimSpeaker | SimCamera

_CLASSES: dict[Kind, type[SimLight] | type[SimSpeaker] | type[SimCamera]] = {
    Kind.LIGHT: SimLight,
    Kind.SPEAKER: SimSpeaker,
    Kind.CAMERA: SimCamera,
}


def make_device(
    spec: DeviceSpec, area: str, timings: SimTimings, scheduler: Scheduler, rng: random.Random
) -> AnySimDevice:
    """A simulated device of the spec's kind."""
    try:
        cls = _CLASSES[spec.kind]
    except KeyError:
        raise ValueError(f"no simulator for kind {spec.kind}") from None
    return cls(spec, area, timings, scheduler, rng)
