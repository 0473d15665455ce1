"""A security camera's status feed: heartbeats, motion, tampering and storage health."""

from __future__ import annotations

import random

from devices.payloads import (
    CameraState,
    CommandBase,
    Kind,
    MotionEvent,
    Storage,
    StorageEvent,
    TamperingEvent,
)
from devices.sim.device import SimDevice
from devices.sim.layout import DeviceSpec, SimTimings
from devices.sim.scheduler import Scheduler, Timer

# Storage states the recorder can still write to (a full card overwrites the oldest).
_WRITABLE = (Storage.OK, Storage.DEGRADED, Storage.FULL)


class SimCamera(SimDevice[CameraState]):
    """A camera: takes no commands, reports motion at random and faults when told to."""

    kind = Kind.CAMERA

    def __init__(
        self,
        spec: DeviceSpec,
        area: str,
        timings: SimTimings,
        scheduler: Scheduler,
        rng: random.Random,
    ) -> None:
        self._record_wanted = True
        self._motion = False
        self._tampering = False
        self._storage = Storage.OK
        self._motion_end: Timer | None = None
        super().__init__(spec, area, timings, scheduler, rng)

    # --- public controls, any thread ---------------------------------------------------

    def trigger_motion(self) -> None:
        """Make the camera see motion now (it clears after ``motion_hold_s``)."""
        self._scheduler.run_sync(self._motion_starts)

    def set_tampering(self, active: bool) -> None:
        """Cover, move or spray the camera (True) or put it right (False)."""
        self._scheduler.run_sync(lambda: self._set_tampering(active))

    def set_storage(self, storage: Storage) -> None:
        """Change the recorder's storage health."""
        self._scheduler.run_sync(lambda: self._set_storage(Storage(storage)))

    def set_recording(self, recording: bool) -> None:
        """Switch recording on or off (it also stops while storage is unusable)."""
        self._scheduler.run_sync(lambda: self._set_recording(recording))

    # --- on the scheduler thread -------------------------------------------------------

    def _snapshot(self, ts: int, cmd: str | None, error: str | None) -> CameraState:
        return CameraState(
            ts=ts,
            cmd=cmd,
            error=error,
            recording=self._record_wanted and self._storage in _WRITABLE,
            motion=self._motion,
            tampering=self._tampering,
            storage=self._storage,
        )

    def _parse_command(self, payload: bytes) -> CommandBase:
        raise ValueError("a camera status feed takes no commands")

    def _execute(self, command: CommandBase) -> None:
        raise TypeError(f"a camera cannot execute {type(command).__name__}")

    def _apply_fault(self, fault: str | None) -> None:
        # A camera's fault is its storage: "failed", "full", "absent"...; None means healthy.
        self._set_storage(Storage(fault) if fault is not None else Storage.OK)

    def _start_routines(self) -> None:
        super()._start_routines()
        self._motion = False
        self._schedule_motion()

    def _schedule_motion(self) -> None:
        rate_per_s = self.timings.motion_per_hour / 3600
        if rate_per_s > 0:
            # Exponential gaps make motion a Poisson process at the configured rate.
            self._later(self._rng.expovariate(rate_per_s), self._random_motion)

    def _random_motion(self) -> None:
        self._motion_starts()
        self._schedule_motion()

    def _motion_starts(self) -> None:
        if self._motion_end is not None:
            # Already active: the detector just holds the alarm longer.
            self._motion_end.cancel()
        else:
            self._motion = True
            score = round(self._rng.uniform(0.55, 0.99), 2)
            self._report_event(MotionEvent(ts=self._next_ts(), active=True, score=score))
            self.report_state()
        self._motion_end = self._later(self.timings.motion_hold_s, self._motion_ends)

    def _motion_ends(self) -> None:
        self._motion_end = None
        self._motion = False
        self._report_event(MotionEvent(ts=self._next_ts(), active=False))
        self.report_state()

    def _set_tampering(self, active: bool) -> None:
        if active == self._tampering:
            return
        self._tampering = active
        self._report_event(TamperingEvent(ts=self._next_ts(), active=active))
        self.report_state()

    def _set_storage(self, storage: Storage) -> None:
        if storage == self._storage:
            return
        self._storage = storage
        self._report_event(StorageEvent(ts=self._next_ts(), storage=storage))
        self.report_state()

    def _set_recording(self, recording: bool) -> None:
        if recording == self._record_wanted:
            return
        self._record_wanted = recording
        self.report_state()

    def _on_halt(self) -> None:
        # The motion timer died with the power; the detector starts quiet next boot.
        self._motion_end = None
        self._motion = False
