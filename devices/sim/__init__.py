"""Device simulators that behave like real hardware: they take time, fail and go offline."""

# Typical use:
#     fleet = SimFleet(host="127.0.0.1", port=port, area="demo", specs=demo_layout("demo"))
#     fleet.start(); fleet.wait_online(timeout=10)
#     fleet.device("light-01-03").go_offline()
#     fleet.stop()

from devices.sim.camera import SimCamera
from devices.sim.control import control_filter, control_payload, control_topic
from devices.sim.device import SimDevice
from devices.sim.fleet import SimFleet
from devices.sim.kinds import AnySimDevice
from devices.sim.layout import DeviceSpec, SimTimings, demo_layout
from devices.sim.light import SimLight
from devices.sim.scheduler import Scheduler, epoch_ms
from devices.sim.speaker import SimSpeaker

__all__ = [
    "AnySimDevice",
    "DeviceSpec",
    "Scheduler",
    "SimCamera",
    "SimDevice",
    "SimFleet",
    "SimLight",
    "SimSpeaker",
    "SimTimings",
    "control_filter",
    "control_payload",
    "control_topic",
    "demo_layout",
    "epoch_ms",
]
