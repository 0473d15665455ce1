"""Is the system clock NTP-synchronised, and how far off is it? Asked of chrony or systemd-timesyncd.

A speaker starts at ``start_at`` by its own clock, so its start is only as good as that clock.
It claims a synchronised start (capability ``sync_start``, ``clock_synced: true`` in its
states) only when its time daemon says the clock is synchronised (docs/protocol.md §6.5).

- chrony: ``chronyc -c tracking``, one CSV line; field 5 "System time" is the correction
  chrony is applying (positive: the clock is slow), the last field the leap status
  ("Not synchronised" until it has a source).
- systemd-timesyncd: ``timedatectl show -p NTPSynchronized --value`` (yes/no), and the
  ``Offset:`` line of ``timedatectl timesync-status`` (the server's time minus ours).

Both give the correction; the offset reported is the clock's error, positive when it is ahead.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

Run = Callable[[list[str]], str | None]
_UNITS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1000.0, "min": 60_000.0}
_OFFSET = re.compile(r"^\s*Offset:\s*([+-]?[0-9.]+)\s*(ns|us|µs|ms|s|min)\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ClockStatus:
    synced: bool
    offset_ms: float | None  # the clock's error, positive when ahead; None when unknown
    source: str  # chrony | timesyncd | none
    detail: str  # for the log

    def describe(self) -> str:
        offset = "unknown offset" if self.offset_ms is None else f"offset {self.offset_ms:+.3f} ms"
        state = "synchronised" if self.synced else "NOT synchronised"
        return f"clock {state} ({self.source}, {offset}; {self.detail})"


def _run(argv: list[str]) -> str | None:
    """A command's output, or None when it is missing, fails or hangs."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def parse_chrony(csv_line: str) -> ClockStatus:
    fields = csv_line.strip().split(",")
    if len(fields) < 14:
        return ClockStatus(False, None, "chrony", f"unreadable tracking report {csv_line[:80]!r}")
    leap = fields[-1].strip()
    try:
        correction_s = float(fields[4])
        stratum = int(fields[2])
    except ValueError:
        return ClockStatus(False, None, "chrony", f"unreadable tracking report {csv_line[:80]!r}")
    synced = leap != "Not synchronised" and 0 < stratum < 16
    return ClockStatus(
        synced, -correction_s * 1000, "chrony", f"source {fields[1]}, stratum {stratum}, {leap}"
    )


def parse_timesyncd(synchronized: str, status: str | None) -> ClockStatus:
    synced = synchronized.strip() == "yes"
    found = _OFFSET.search(status or "")
    offset = -float(found.group(1)) * _UNITS[found.group(2)] if found else None
    return ClockStatus(synced, offset, "timesyncd", f"NTPSynchronized={synchronized.strip() or '?'}")


def probe(source: str = "auto", run: Run = _run) -> ClockStatus:
    """Ask the configured time daemon (``auto``: chrony, then timesyncd) about the clock."""
    if source in ("auto", "chrony"):
        out = run(["chronyc", "-c", "tracking"])
        if out and out.strip():
            return parse_chrony(out.strip().splitlines()[-1])
        if source == "chrony":
            return ClockStatus(False, None, "chrony", "chronyc gave no tracking report (is chronyd running?)")
    if source in ("auto", "timesyncd"):
        synchronized = run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
        if synchronized is not None:
            return parse_timesyncd(synchronized, run(["timedatectl", "timesync-status"]))
        if source == "timesyncd":
            return ClockStatus(False, None, "timesyncd", "timedatectl did not answer (is systemd running?)")
    return ClockStatus(False, None, "none", "no time daemon to ask: install chrony")
