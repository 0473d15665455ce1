"""What a simulated fleet is made of: device specs, timings, and the demo area's layout."""

from __future__ import annotations

from dataclasses import dataclass

from devices.payloads import Kind
from devices.topics import is_ident

SIM_FIRMWARE = "sim-1.0.0"
LIGHT_MODEL = "KHU-SIM-LED"
SPEAKER_MODEL = "KHU-SIM-LOA"
CAMERA_MODEL = "KHU-SIM-CAM"
GATEWAY_MODEL = "KHU-SIM-GW"
# The main road carries brighter lamps than the side streets, as in most areas.
MAIN_ROAD_RATED_W = 120.0
SIDE_STREET_RATED_W = 60.0
CAMERA_ZONE = "Cổng và ngõ"


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One device to simulate: identity, zone, human name and nameplate."""

    device_id: str
    kind: Kind
    zone: str | None
    name: str
    model: str
    firmware: str = SIM_FIRMWARE
    rated_w: float | None = None

    def __post_init__(self) -> None:
        if not is_ident(self.device_id):
            raise ValueError(f"invalid device id {self.device_id!r}")
        if self.kind is Kind.GATEWAY:
            raise ValueError("gateways are created by the fleet, not listed in specs")
        if self.kind is Kind.LIGHT and (self.rated_w is None or self.rated_w <= 0):
            raise ValueError(f"light {self.device_id} needs a positive rated_w")


@dataclass(frozen=True, slots=True)
class SimTimings:
    """How long simulated hardware takes; tests shrink these, demos keep them lifelike."""

    action_delay_s: float = 0.3
    play_duration_s: float = 6.0
    heartbeat_s: float = 30.0
    motion_per_hour: float = 6.0
    motion_hold_s: float = 10.0


def _spread(total: int, groups: int) -> list[int]:
    """Split ``total`` items over ``groups`` as evenly as possible, first groups larger."""
    if groups <= 0:
        return []
    base, extra = divmod(total, groups)
    return [base + (1 if g < extra else 0) for g in range(groups)]


def demo_layout(
    area: str,
    lights: int = 40,
    streets: int = 4,
    speakers: int = 6,
    speaker_zones: int = 2,
    cameras: int = 12,
) -> list[DeviceSpec]:
    """A typical residential area: lights along streets, speakers in zones, gate cameras."""
    if not is_ident(area):
        raise ValueError(f"invalid area code {area!r}")
    if min(lights, streets, speakers, speaker_zones, cameras) < 0:
        raise ValueError("counts must not be negative")
    if (lights and not streets) or (speakers and not speaker_zones):
        raise ValueError("lights need streets and speakers need zones")
    specs: list[DeviceSpec] = []
    for street, count in enumerate(_spread(lights, streets), start=1):
        rated = MAIN_ROAD_RATED_W if street == 1 else SIDE_STREET_RATED_W
        for n in range(1, count + 1):
            specs.append(
                DeviceSpec(
                    f"light-{street:02d}-{n:02d}",
                    Kind.LIGHT,
                    f"Đường {street}",
                    f"Đèn Đường {street} số {n:02d}",
                    LIGHT_MODEL,
                    rated_w=rated,
                )
            )
    for zone, count in enumerate(_spread(speakers, speaker_zones), start=1):
        for n in range(1, count + 1):
            specs.append(
                DeviceSpec(
                    f"spk-{zone}-{n:02d}",
                    Kind.SPEAKER,
                    f"Loa khu {zone}",
                    f"Loa khu {zone} số {n:02d}",
                    SPEAKER_MODEL,
                )
            )
    for n in range(1, cameras + 1):
        specs.append(DeviceSpec(f"cam-{n:02d}", Kind.CAMERA, CAMERA_ZONE, f"Camera {n:02d}", CAMERA_MODEL))
    return specs
