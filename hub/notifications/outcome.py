"""What one attempt to deliver a notification came to, whatever the channel."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Outcome:
    """``ok``; else ``retry`` for passing trouble, ``gone`` for a subscription that no longer exists."""

    ok: bool
    error: str = ""
    retry: bool = True
    gone: bool = False
    # A push service may say how long to wait (``Retry-After``), in seconds.
    retry_after_s: float | None = None


SENT = Outcome(ok=True)
