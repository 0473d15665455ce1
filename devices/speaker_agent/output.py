"""Sound out through ALSA: ``aplay`` fed by a pipe, started on the clock; volume through ``amixer``.

``aplay`` is started (and opens the PCM) before ``start_at``, then waits for samples on its
standard input. At ``start_at`` by the system clock the first block is written: that instant
is the real start (``-R``: playback begins with the first period, not when the buffer is
full). The rest is written at the audio's own pace, a little ahead of it, so the time the
writing takes is the time the audio plays whatever the device (a sound card blocks when its
buffer is full; ALSA's ``null`` device, used in tests, never blocks). A stop kills ``aplay``:
the sound ends at once, buffer included.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
import time
import wave
from collections.abc import Callable

from devices.speaker_agent.audio import Decoded

LEAD_MS = 250  # written ahead of what is sounding: under the 500 ms buffer, over any hiccup
CHUNK_MS = 50
SPIN_S = 0.003  # the last moments before the start are waited for by spinning, not sleeping


class OutputError(Exception):
    """The sound card (or aplay) failed; the message is the play's ``error``."""


def now_ms() -> float:
    return time.time_ns() / 1e6


def wait_until(epoch_ms: float, cancelled: threading.Event) -> bool:
    """Until the wall clock reads ``epoch_ms``; False if cancelled first."""
    while True:
        left = (epoch_ms - now_ms()) / 1000
        if left <= 0:
            return True
        if left > SPIN_S:
            if cancelled.wait(min(left - SPIN_S, 0.5)):
                return False
        elif cancelled.is_set():
            return False


class Stream:
    """One announcement's way to the sound card, from ``aplay``'s start to its end."""

    def __init__(self, device: str, decoded: Decoded) -> None:
        self.decoded = decoded
        exe = shutil.which("aplay")
        if exe is None:
            raise OutputError("aplay is not installed: apt-get install alsa-utils")
        argv = [exe, "-q", "-D", device, "-t", "raw", "-f", "S16_LE", "-r", str(decoded.rate)]
        argv += ["-c", str(decoded.channels), "--buffer-time=500000", "-R", "1000"]
        self._proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._killed = False

    def play(self, start_at_ms: float, cancelled: threading.Event, on_started: Callable[[int], None]) -> int:
        """Sound the whole file from ``start_at_ms`` (at once if that is past); the end's epoch ms.

        Returns early (the end so far) when ``cancelled`` is set; raises OutputError.
        """
        d = self.decoded
        frame_bytes = 2 * d.channels
        per_ms = d.rate / 1000
        with wave.open(str(d.path), "rb") as source:
            first = source.readframes(int(LEAD_MS * per_ms))
            if not wait_until(start_at_ms, cancelled):
                self.abort()
                return int(now_ms())
            started = now_ms()
            self._write(first)
            on_started(round(started))
            written_ms = len(first) / frame_bytes / per_ms
            while not cancelled.is_set():
                block = source.readframes(int(CHUNK_MS * per_ms))
                if not block:
                    break
                # Keep LEAD_MS ahead of the audio's own clock, never more.
                due = started + written_ms - LEAD_MS
                if now_ms() < due and cancelled.wait((due - now_ms()) / 1000):
                    break
                self._write(block)
                written_ms += len(block) / frame_bytes / per_ms
        if cancelled.is_set():
            self.abort()
            return int(now_ms())
        self._finish()
        # What is still in the buffer plays on after the last write (a null device has none).
        wait_until(started + d.duration_ms, cancelled)
        return int(now_ms())

    def _write(self, data: bytes) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        try:
            stdin.write(data)
            stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise OutputError(f"ALSA output failed: {self._error()}") from None

    def _finish(self) -> None:
        """Close the pipe and let aplay drain its buffer."""
        stdin = self._proc.stdin
        assert stdin is not None
        with contextlib.suppress(OSError):
            stdin.close()
        try:
            code = self._proc.wait(timeout=5 + self.decoded.duration_ms / 1000)
        except subprocess.TimeoutExpired:
            self.abort()
            raise OutputError("aplay did not finish: the sound card stopped taking samples") from None
        if code != 0 and not self._killed:
            raise OutputError(f"ALSA output failed: {self._error()}")

    def _error(self) -> str:
        if self._proc.poll() is None:
            self.abort()
        stderr = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
        lines = [line for line in stderr.splitlines() if line.strip()]
        return lines[-1][:150] if lines else f"aplay exited with {self._proc.returncode}"

    def abort(self) -> None:
        """Silence at once: the samples in the sound card's buffer are dropped with aplay."""
        if self._proc.poll() is None:
            self._killed = True
            self._proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)


class Mixer:
    """The ALSA mixer control that sets the amplifier's input level (``amixer sset``)."""

    def __init__(self, card: str, control: str) -> None:
        self.card = card
        self.control = control

    def set(self, percent: int) -> str | None:
        """None when the mixer took it; otherwise why not (then the agent scales the samples)."""
        exe = shutil.which("amixer")
        if exe is None:
            return "amixer is not installed (apt-get install alsa-utils)"
        argv = [exe, "-q", "-c", self.card, "sset", self.control, f"{percent}%"]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"amixer failed: {exc}"
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            reason = lines[-1] if lines else f"exit {done.returncode}"
            return f"no mixer control {self.control!r} on card {self.card}: {reason[:120]}"
        return None
