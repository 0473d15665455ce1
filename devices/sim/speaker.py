"""A public-address loudspeaker that starts announcements at an agreed instant."""

from __future__ import annotations

import random

from pydantic import TypeAdapter

from devices.payloads import (
    CommandBase,
    Kind,
    Playback,
    Priority,
    SpeakerCommand,
    SpeakerPlay,
    SpeakerState,
    SpeakerStop,
    SpeakerVolume,
)
from devices.sim.device import SimDevice
from devices.sim.layout import DeviceSpec, SimTimings
from devices.sim.scheduler import Scheduler, Timer, epoch_ms

_COMMAND = TypeAdapter[SpeakerPlay | SpeakerStop | SpeakerVolume](SpeakerCommand)
_ACTIVE = (Playback.SCHEDULED, Playback.PLAYING)
DEFAULT_VOLUME = 70


class SimSpeaker(SimDevice[SpeakerState]):
    """A loudspeaker: acknowledges a play at once, starts it at ``start_at``, then finishes."""

    kind = Kind.SPEAKER

    def __init__(
        self,
        spec: DeviceSpec,
        area: str,
        timings: SimTimings,
        scheduler: Scheduler,
        rng: random.Random,
    ) -> None:
        self.play_duration_s = timings.play_duration_s
        self._volume = DEFAULT_VOLUME
        self._playback = Playback.IDLE
        self._announcement: str | None = None
        self._priority: Priority | None = None
        self._started_at: int | None = None
        self._finished_at: int | None = None
        self._play_error: str | None = None
        self._pending: Timer | None = None
        super().__init__(spec, area, timings, scheduler, rng)

    @property
    def play_error(self) -> str | None:
        """The injected failure that makes every play fail, if any."""
        return self._play_error

    def _snapshot(self, ts: int, cmd: str | None, error: str | None) -> SpeakerState:
        return SpeakerState(
            ts=ts,
            cmd=cmd,
            error=error,
            volume=self._volume,
            playback=self._playback,
            announcement=self._announcement,
            priority=self._priority,
            started_at=self._started_at,
            finished_at=self._finished_at,
        )

    def _parse_command(self, payload: bytes) -> CommandBase:
        return _COMMAND.validate_json(payload)

    def _execute(self, command: CommandBase) -> None:
        if isinstance(command, SpeakerPlay):
            # Acknowledged without the action delay: the hub waits on it to know the
            # speaker will be on time, and the start itself is pinned to start_at.
            self._play(command)
        elif isinstance(command, SpeakerStop):
            self._later(self.action_delay_s, lambda: self._stop(command))
        elif isinstance(command, SpeakerVolume):
            self._later(self.action_delay_s, lambda: self._set_volume(command))
        else:
            raise TypeError(f"a speaker cannot execute {type(command).__name__}")

    def _play(self, command: SpeakerPlay) -> None:
        if self._playback in _ACTIVE:
            self._end(Playback.INTERRUPTED)
            self.report_state()
        self._announcement = command.announcement
        self._priority = command.priority
        self._started_at = None
        self._finished_at = None
        if command.volume is not None:
            self._volume = command.volume
        if self._play_error is not None:
            self._playback = Playback.FAILED
            self.report_state(cmd=command.id, error=self._play_error)
            return
        self._playback = Playback.SCHEDULED
        self.report_state(cmd=command.id)
        self._pending = self._at_epoch_ms(command.start_at, self._begin)

    def _begin(self) -> None:
        self._pending = None
        self._playback = Playback.PLAYING
        # Taken before publishing, so the report carries the instant the audio started.
        self._started_at = epoch_ms()
        # Reported on the next turn: every speaker of a broadcast is due at the same instant
        # on this one thread, and each would otherwise start only after the ones before it
        # had published their reports (real speakers start on their own clocks, in parallel).
        self._later(0.0, self.report_state)
        self._pending = self._later(self.play_duration_s, self._finish)

    def _finish(self) -> None:
        self._pending = None
        self._playback = Playback.FINISHED
        self._finished_at = epoch_ms()
        self.report_state()

    def _end(self, outcome: Playback) -> None:
        """End the scheduled or playing announcement without reporting it."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self._playback = outcome
        self._finished_at = epoch_ms()

    def _stop(self, command: SpeakerStop) -> None:
        # A stop for another announcement, or when silent, already has its outcome:
        # it is confirmed without touching what is playing.
        matches = command.announcement in (None, self._announcement)
        if matches and self._playback in _ACTIVE:
            self._end(Playback.STOPPED)
        self.report_state(cmd=command.id)

    def _set_volume(self, command: SpeakerVolume) -> None:
        self._volume = command.volume
        self.report_state(cmd=command.id)

    def _apply_fault(self, fault: str | None) -> None:
        self._play_error = fault[:200] if fault else None

    def _on_halt(self) -> None:
        # Power is gone: whatever was due or playing did not finish.
        self._pending = None
        if self._playback in _ACTIVE:
            self._end(Playback.INTERRUPTED)
