"""Module-level job functions: APScheduler pickles a reference to them into its job store."""

from __future__ import annotations

from typing import Protocol


class Firing(Protocol):
    def fire_lighting(self, timetable_id: int) -> None: ...

    def fire_programme(self, programme_id: int) -> None: ...


_active: Firing | None = None


def set_active(engine: Firing | None) -> None:
    """The engine holding the scheduler lease in this process (None when on standby)."""
    global _active  # noqa: PLW0603  (one scheduler per process; see schedules.engine)
    _active = engine


def fire_lighting(timetable_id: int) -> None:
    """Run the step of a lighting timetable that is due now."""
    if _active is None:
        raise RuntimeError("no active schedule engine in this process")
    _active.fire_lighting(timetable_id)


def fire_programme(programme_id: int) -> None:
    """Queue the announcement of a broadcast programme that is due now."""
    if _active is None:
        raise RuntimeError("no active schedule engine in this process")
    _active.fire_programme(programme_id)
