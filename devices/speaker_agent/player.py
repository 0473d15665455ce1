"""The speaker's playback: one current announcement, reported as docs/protocol.md §6.5 says.

Commands arrive on the MQTT thread and are answered at once (a ``play`` with ``scheduled``);
fetching, decoding and sounding happen on a thread per announcement, which reports
``playing`` with the instant the first sample was written and then ``finished`` (or
``failed``). A newer ``play`` interrupts the current one; the hub decides the priorities and
the speaker reports them back. The last state is kept on disk, so ``ts`` keeps increasing
across restarts, the volume survives them, and an announcement cut by a power loss is
reported ``interrupted`` when the speaker is back.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from devices.payloads import (
    MAX_PAYLOAD_BYTES,
    Playback,
    SpeakerCommand,
    SpeakerPlay,
    SpeakerState,
    SpeakerStop,
    SpeakerVolume,
)
from devices.speaker_agent.audio import AudioCache, AudioError
from devices.speaker_agent.clock import ClockStatus
from devices.speaker_agent.output import Mixer, OutputError, Stream, now_ms

log = logging.getLogger(__name__)
_COMMAND = TypeAdapter[SpeakerPlay | SpeakerStop | SpeakerVolume](SpeakerCommand)
_ACTIVE = (Playback.SCHEDULED, Playback.PLAYING)
_REMEMBERED = 64
Report = Callable[[SpeakerState], None]


class _Job:
    """One announcement on its way out: cancelled by a stop, a newer play or shutdown."""

    def __init__(self, command: SpeakerPlay, gain: int) -> None:
        self.command = command
        self.gain = gain
        self.cancelled = threading.Event()
        self.stream: Stream | None = None
        self.started = False

    def cancel(self) -> None:
        self.cancelled.set()
        if self.stream is not None:
            self.stream.abort()


class Speaker:
    def __init__(
        self,
        cache: AudioCache,
        mixer: Mixer,
        alsa_device: str,
        clock: Callable[[], ClockStatus],
        state_file: Path,
        volume: int = 70,
    ) -> None:
        self._cache = cache
        self._mixer = mixer
        self._device = alsa_device
        self._clock = clock
        self._state_file = state_file
        self._lock = threading.RLock()
        self._seen: deque[str] = deque(maxlen=_REMEMBERED)
        self._job: _Job | None = None
        self._fields: dict[str, Any] = {"volume": volume, "playback": Playback.IDLE}
        self._last_ts = 0
        self._last: SpeakerState | None = None
        self.report: Report = lambda state: None
        self._restore()
        self._gain = 100 if self._apply_volume(self._fields["volume"]) else self._fields["volume"]

    # --- commands (MQTT thread) ------------------------------------------------------

    def handle(self, payload: bytes, retained: bool) -> None:
        """One message from our ``cmd`` topic."""
        if retained:  # a stray retained command would replay on every reconnect (§3.3)
            log.warning("ignoring a retained command")
            return
        if len(payload) > MAX_PAYLOAD_BYTES:
            log.warning("ignoring an oversized command (%d bytes)", len(payload))
            return
        try:
            command = _COMMAND.validate_json(payload)
        except ValidationError as exc:
            self._unsupported(payload, exc)
            return
        with self._lock:
            if command.id in self._seen:
                log.info("command %s again: answering as before (§3.6)", command.id)
                if self._last is not None and self._last.cmd == command.id:
                    self._publish(cmd=command.id, error=self._last.error)
                return
            self._seen.append(command.id)
            if command.exp is not None and now_ms() > command.exp:
                log.warning("command %s expired %d ms ago by our clock", command.id, now_ms() - command.exp)
                self._publish(cmd=command.id, error="expired")
            elif isinstance(command, SpeakerPlay):
                self._play(command)
            elif isinstance(command, SpeakerStop):
                self._stop(command)
            else:
                self._set_volume(command.volume)
                self._publish(cmd=command.id)

    def _unsupported(self, payload: bytes, exc: ValidationError) -> None:
        try:
            raw = json.loads(payload)
            cid = raw.get("id") if isinstance(raw, dict) else None
        except ValueError:
            cid = None
        log.warning("ignoring an invalid command: %s", exc.errors(include_url=False)[:1])
        if isinstance(cid, str) and 0 < len(cid) <= 64:
            with self._lock:
                self._publish(cmd=cid, error="unsupported")

    def _play(self, command: SpeakerPlay) -> None:
        self._end_current(Playback.INTERRUPTED)
        if command.volume is not None:
            self._set_volume(command.volume)
        job = _Job(command, self._gain)
        self._job = job
        self._fields.update(
            playback=Playback.SCHEDULED,
            announcement=command.announcement,
            priority=command.priority,
            started_at=None,
            finished_at=None,
        )
        self._publish(cmd=command.id)
        late = now_ms() - command.start_at
        log.info("play %s at %d (%+.0f ms from now)", command.announcement, command.start_at, -late)
        threading.Thread(
            target=self._run, args=(job,), name=f"play-{command.announcement}", daemon=True
        ).start()

    def _stop(self, command: SpeakerStop) -> None:
        # A stop for another announcement, or with nothing playing, changes nothing (§6.5).
        if command.announcement in (None, self._fields.get("announcement")):
            self._end_current(Playback.STOPPED, report=False)
        self._publish(cmd=command.id)

    def _set_volume(self, volume: int) -> None:
        self._fields["volume"] = volume
        self._gain = 100 if self._apply_volume(volume) else volume

    def _apply_volume(self, volume: int) -> bool:
        problem = self._mixer.set(volume)
        if problem is not None:
            log.warning("volume %d%% in software, from the next announcement: %s", volume, problem)
        return problem is None

    def _end_current(self, outcome: Playback, report: bool = True) -> None:
        job, self._job = self._job, None
        if job is None or self._fields["playback"] not in _ACTIVE:
            return
        job.cancel()
        self._fields.update(playback=outcome, finished_at=round(now_ms()))
        if report:
            self._publish()

    def shutdown(self) -> None:
        """Before a planned stop: what is scheduled or playing is cut short, and said so."""
        with self._lock:
            self._end_current(Playback.INTERRUPTED)

    # --- the announcement's thread ---------------------------------------------------

    def _run(self, job: _Job) -> None:
        try:
            decoded = self._cache.decode(self._cache.fetch(job.command.url), job.gain)
            stream = Stream(self._device, decoded)
            job.stream = stream
            if job.cancelled.is_set():
                stream.abort()
                return
            end = stream.play(job.command.start_at, job.cancelled, lambda t: self._started(job, t))
            self._ended(job, Playback.FINISHED, end, None)
        except (AudioError, OutputError) as exc:
            log.error("announcement %s failed: %s", job.command.announcement, exc)
            self._ended(job, Playback.FAILED, round(now_ms()) if job.started else None, str(exc)[:200])
        except Exception:
            log.exception("announcement %s failed", job.command.announcement)
            self._ended(job, Playback.FAILED, round(now_ms()) if job.started else None, "speaker error")

    def _started(self, job: _Job, at: int) -> None:
        with self._lock:
            job.started = True
            if job is self._job and not job.cancelled.is_set():
                late = at - job.command.start_at
                log.info("announcement %s started at %d (%+d ms)", job.command.announcement, at, late)
                self._fields.update(playback=Playback.PLAYING, started_at=at)
                self._publish()

    def _ended(self, job: _Job, outcome: Playback, at: int | None, error: str | None) -> None:
        with self._lock:
            if job is not self._job or job.cancelled.is_set():
                return  # already reported as interrupted or stopped
            self._job = None
            self._fields.update(playback=outcome, finished_at=at)
            self._publish(error=error)

    # --- states ----------------------------------------------------------------------

    def state(self, cmd: str | None = None, error: str | None = None) -> SpeakerState:
        """A complete state, stamped now (strictly after the last one, §6.3)."""
        with self._lock:
            self._last_ts = max(round(now_ms()), self._last_ts + 1)
            clock = self._clock()
            offset = None if clock.offset_ms is None else round(clock.offset_ms, 3)
            return SpeakerState(
                ts=self._last_ts,
                cmd=cmd,
                error=error,
                clock_synced=clock.synced,
                clock_offset_ms=offset if offset is None or abs(offset) <= 86_400_000 else None,
                **self._fields,
            )

    def _publish(self, cmd: str | None = None, error: str | None = None) -> None:
        self._last = self.state(cmd, error)
        self.report(self._last)
        self._save()

    def current(self) -> SpeakerState:
        """The state to publish on connecting (§3.2 step 4)."""
        with self._lock:
            self._last = self.state()
            self._save()
            return self._last

    def _save(self) -> None:
        try:
            assert self._last is not None
            tmp = self._state_file.with_suffix(".tmp")
            tmp.write_text(self._last.model_dump_json(exclude_none=True))
            tmp.replace(self._state_file)
        except OSError as exc:
            log.warning("cannot keep the state in %s: %s", self._state_file, exc)

    def _restore(self) -> None:
        try:
            saved = SpeakerState.model_validate_json(self._state_file.read_bytes())
        except (OSError, ValidationError):
            return
        self._last_ts = saved.ts
        keep = ("volume", "playback", "announcement", "priority", "started_at", "finished_at")
        self._fields = {k: getattr(saved, k) for k in keep if getattr(saved, k) is not None}
        if saved.playback in _ACTIVE:
            # The power went (or the agent was killed) while it was due or sounding.
            self._fields.update(playback=Playback.INTERRUPTED, finished_at=round(now_ms()))
