"""A dimmable street light with a power meter and lamp fault reporting."""

from __future__ import annotations

import random

from devices.payloads import CommandBase, Kind, LampFault, LampFaultEvent, LightSet, LightState
from devices.sim.device import SimDevice
from devices.sim.layout import DeviceSpec, SimTimings
from devices.sim.scheduler import Scheduler

_FAULT_DETAIL = {
    LampFault.LAMP_FAILURE: "LED module does not draw current",
    LampFault.DRIVER_FAILURE: "driver output out of range",
    LampFault.OVERHEAT: "luminaire above 85 °C, lamp switched off",
    LampFault.NO_LOAD: "no lamp connected",
}


class SimLight(SimDevice[LightState]):
    """A street light: switched and dimmed after an action delay, reports its power draw."""

    kind = Kind.LIGHT

    def __init__(
        self,
        spec: DeviceSpec,
        area: str,
        timings: SimTimings,
        scheduler: Scheduler,
        rng: random.Random,
    ) -> None:
        self.rated_w = spec.rated_w or 0.0
        self._on = False
        # Lamps remember their last dim level across off/on, like most dimmer firmware.
        self._level = 100
        self._fault: LampFault | None = None
        super().__init__(spec, area, timings, scheduler, rng)

    @property
    def fault(self) -> LampFault | None:
        return self._fault

    def press(self, on: bool | None = None, level: int | None = None) -> None:
        """Someone works the light's own switch or dimmer: it acts and reports without a ``cmd``."""
        if on is None and level is None:
            on = not self._on  # a plain press of the button toggles it
        self._scheduler.run_sync(lambda: self._apply(LightSet(id="local", on=on, level=level), cmd=None))

    def power_cut(self, on: bool = True, level: int = 100) -> None:
        """Lose the dim setting, as a luminaire does after a power cut (many restart at full)."""
        self._scheduler.run_sync(lambda: self._reset(on, level))

    def _reset(self, on: bool, level: int) -> None:
        self._on, self._level = on, level

    def _snapshot(self, ts: int, cmd: str | None, error: str | None) -> LightState:
        lit = self._on and self._fault is None
        power = round(self.rated_w * self._level / 100, 1) if lit else 0.0
        return LightState(
            ts=ts,
            cmd=cmd,
            error=error,
            on=self._on,
            level=self._level,
            power_w=power,
            fault=self._fault,
        )

    def _parse_command(self, payload: bytes) -> CommandBase:
        return LightSet.model_validate_json(payload)

    def _execute(self, command: CommandBase) -> None:
        if not isinstance(command, LightSet):
            raise TypeError(f"a light cannot execute {type(command).__name__}")
        self._later(self.action_delay_s, lambda: self._apply(command))

    def _apply(self, command: LightSet, cmd: str | None = "") -> None:
        """Apply a LightSet; a level alone switches the lamp on (above 0) or off (at 0).

        The state answers the command's id, or carries ``cmd`` when given (None: a local change).
        """
        if command.level is not None:
            self._level = command.level
        if command.on is not None:
            self._on = command.on
        elif command.level is not None:
            self._on = command.level > 0
        if command.on and command.level is None and self._level == 0:
            # A plain "on" after being dimmed to 0 would stay dark; wall dimmers go to full.
            self._level = 100
        self.report_state(cmd=command.id if cmd == "" else cmd)

    def _apply_fault(self, fault: str | None) -> None:
        new = LampFault(fault) if fault is not None else None
        if new == self._fault:
            return
        self._fault = new
        detail = _FAULT_DETAIL[new] if new is not None else "lamp working again"
        self._report_event(LampFaultEvent(ts=self._next_ts(), fault=new, detail=detail))
        self.report_state()
