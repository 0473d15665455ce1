"""Keeps the project's Mosquitto running under ``khu up``: a broker that dies is started again.

Devices and the hub reconnect by themselves, and commands still within their time to live are
sent again when the devices announce themselves (``hub.commands.sweeper``); what is missing
after a crash is the broker process itself.
"""

from __future__ import annotations

import logging
import time

from hub.broker.process import Broker, BrokerError

log = logging.getLogger(__name__)


class BrokerSupervisor:
    """Call ``check`` periodically; it restarts the broker when its process has ended."""

    def __init__(self, broker: Broker, first_retry_s: float = 1.0, max_retry_s: float = 60.0) -> None:
        self._broker = broker
        self._first_retry_s = first_retry_s
        self._max_retry_s = max_retry_s
        self._retry_s = first_retry_s
        self._next_try = 0.0
        self.restarts = 0

    def running(self) -> bool:
        proc = self._broker.proc
        return proc is not None and proc.poll() is None

    def check(self) -> bool:
        """Restart the broker if it died (not more often than the back-off allows); True if it runs."""
        if self.running():
            return True
        now = time.monotonic()
        if now < self._next_try:
            return False
        proc = self._broker.proc
        code = proc.returncode if proc is not None else None
        log.warning("the broker on port %d exited (code %s); starting it again", self._broker.port, code)
        try:
            self._broker.start()
        except BrokerError as exc:
            # A broker that cannot start (port taken, bad config) must not be hammered.
            log.error("the broker could not be started again, next try in %.0f s: %s", self._retry_s, exc)
            self._next_try = now + self._retry_s
            self._retry_s = min(self._retry_s * 2, self._max_retry_s)
            return False
        self.restarts += 1
        self._retry_s = self._first_retry_s
        log.warning("the broker runs again on port %d (restart %d)", self._broker.port, self.restarts)
        return True
