"""Counts failed logins per username and per client address (moving window, `limits`).

A browser or app that logged in to an account before carries a signed device cookie for it
(OWASP's "device cookies"). Its attempts count on a counter of its own and are limited by
it alone: a stranger guessing the password locks the username for strangers, not for the
head's own phone. Attempts without a valid device cookie count per username and per address.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerSecond, storage, strategies


class LoginLimiter:
    def __init__(self, per_user: int, per_ip: int, window_s: int) -> None:
        self._user = RateLimitItemPerSecond(per_user, window_s)
        self._ip = RateLimitItemPerSecond(per_ip, window_s)
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def _counters(
        self, username: str, ip: str, device: str | None
    ) -> tuple[tuple[RateLimitItemPerSecond, str, str], ...]:
        if device is not None:
            return ((self._user, "device", device),)
        return (self._user, "user", username.lower()), (self._ip, "ip", ip)

    def retry_after(self, username: str, ip: str, device: str | None = None) -> int | None:
        """Seconds to wait when a limit that applies is exhausted, else None.

        ``device``: the id in a valid device cookie for this username, if the request had one.
        """
        waits = [
            self._limiter.get_window_stats(item, scope, key).reset_time - time.time()
            for item, scope, key in self._counters(username, ip, device)
            if not self._limiter.test(item, scope, key)
        ]
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, username: str, ip: str, device: str | None = None) -> None:
        for item, scope, key in self._counters(username, ip, device):
            self._limiter.hit(item, scope, key)
