"""Time, as one object the flows are handed: wall time for expiries, monotonic time and sleep for
deadlines and back-off. Tests and benches pass their own clock (any object with these methods)."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """What the flows ask of time."""

    def now(self) -> int:
        """Epoch seconds (token, session and lease expiry)."""
        ...

    def now_ms(self) -> int:
        """Epoch milliseconds (the order of a user's sessions: last seen, created)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (deadlines, cache ages)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait (a refresh waiting for another Lambda's lease)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> int:
        """Epoch seconds."""
        return int(time.time())

    def now_ms(self) -> int:
        """Epoch milliseconds."""
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """``time.sleep()``."""
        time.sleep(seconds)
