"""One timer thread per fleet: every simulated device acts on it, so devices need no locks."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def epoch_ms() -> int:
    """Wall-clock time in milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


class Timer:
    """A pending call; cancelling is lazy, the heap entry is skipped when it comes due."""

    __slots__ = ("cancelled", "due", "fn")

    def __init__(self, due: float, fn: Callable[[], None]) -> None:
        self.due = due
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        """Stop the call from happening (no effect once it ran)."""
        self.cancelled = True


class Repeating:
    """A call repeated every ``interval_s`` until cancelled."""

    __slots__ = ("_fn", "_interval_s", "_scheduler", "_timer", "cancelled")

    def __init__(self, scheduler: Scheduler, interval_s: float, fn: Callable[[], None]) -> None:
        self._scheduler = scheduler
        self._interval_s = interval_s
        self._fn = fn
        self._timer: Timer | None = None
        self.cancelled = False

    def start(self, first_s: float) -> Repeating:
        """Make the first call after ``first_s`` seconds."""
        self._timer = self._scheduler.call_later(first_s, self._tick)
        return self

    def cancel(self) -> None:
        """Stop repeating."""
        self.cancelled = True
        if self._timer is not None:
            self._timer.cancel()

    def _tick(self) -> None:
        if self.cancelled:
            return
        # Rescheduled before the call, so one failing call does not end the series.
        self._timer = self._scheduler.call_later(self._interval_s, self._tick)
        self._fn()


class Scheduler:
    """A heap of due calls run in order by a single thread."""

    def __init__(self, name: str = "sim-scheduler") -> None:
        self._name = name
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._running = False
        self._stopped = False
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        """Start the timer thread."""
        with self._cond:
            if self._running:
                return
            self._running = True
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread; calls still pending are dropped."""
        with self._cond:
            self._running = False
            self._stopped = True
            self._heap.clear()
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None

    def on_thread(self) -> bool:
        """True when called from the timer thread itself."""
        return self._thread is threading.current_thread()

    def call_at(self, due: float, fn: Callable[[], None]) -> Timer:
        """Run ``fn`` at ``due`` on the monotonic clock."""
        timer = Timer(due, fn)
        with self._cond:
            # Calls made before start wait for it; calls made after stop are dropped.
            if not self._stopped:
                heapq.heappush(self._heap, (due, next(self._seq), timer))
                # Only an earlier head changes how long the thread must sleep.
                if self._heap[0][2] is timer:
                    self._cond.notify()
        return timer

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> Timer:
        """Run ``fn`` after ``delay_s`` seconds."""
        return self.call_at(time.monotonic() + max(0.0, delay_s), fn)

    def call_soon(self, fn: Callable[[], None]) -> Timer:
        """Run ``fn`` as soon as the thread is free, after calls already due."""
        return self.call_at(time.monotonic(), fn)

    def call_at_epoch_ms(self, at_ms: int, fn: Callable[[], None]) -> Timer:
        """Run ``fn`` at a wall-clock instant; in the past means now."""
        # Mapped onto the monotonic clock once, so a wall-clock step cannot move the call.
        return self.call_later((at_ms - epoch_ms()) / 1000, fn)

    def run_sync(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``fn`` on the timer thread and return its result; inline when not running."""
        if not self._running or self.on_thread():
            return fn()
        done = threading.Event()
        result: list[T] = []
        error: list[BaseException] = []

        def call() -> None:
            try:
                result.append(fn())
            except BaseException as exc:
                error.append(exc)
            finally:
                done.set()

        self.call_soon(call)
        if not done.wait(timeout):
            raise TimeoutError(f"simulator thread did not answer within {timeout}s")
        if error:
            raise error[0]
        return result[0]

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._running:
                    if self._heap:
                        wait = self._heap[0][0] - time.monotonic()
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
                if not self._running:
                    return
                _, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            timer.cancelled = True  # a later cancel() must not matter, and it cannot run twice
            try:
                timer.fn()
            except Exception:
                log.exception("simulated device action failed")
