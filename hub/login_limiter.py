"""Counts failed logins per username and per client address (moving window, `limits`)."""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerSecond, storage, strategies


class LoginLimiter:
    def __init__(self, per_user: int, per_ip: int, window_s: int) -> None:
        self._user = RateLimitItemPerSecond(per_user, window_s)
        self._ip = RateLimitItemPerSecond(per_ip, window_s)
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def retry_after(self, username: str, ip: str) -> int | None:
        """Seconds to wait when either limit is exhausted, else None."""
        waits = [
            self._limiter.get_window_stats(item, scope, key).reset_time - time.time()
            for item, scope, key in ((self._user, "user", username.lower()), (self._ip, "ip", ip))
            if not self._limiter.test(item, scope, key)
        ]
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, username: str, ip: str) -> None:
        self._limiter.hit(self._user, "user", username.lower())
        self._limiter.hit(self._ip, "ip", ip)
