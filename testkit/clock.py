"""A clock that moves only when told."""

from __future__ import annotations

import time


class ManualClock:
    """A clock (``hitkey_bff.clock.Clock``) that moves only by :meth:`advance`; ``sleep`` advances."""

    def __init__(self, start: float | None = None) -> None:
        self.t = time.time() if start is None else start

    def now(self) -> int:
        """Epoch seconds."""
        return int(self.t)

    def now_ms(self) -> int:
        """Epoch milliseconds."""
        return int(self.t * 1000)

    def monotonic(self) -> float:
        """The same time, as a float."""
        return self.t

    def time(self) -> float:
        """Epoch seconds, as a float."""
        return self.t

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass at once."""
        self.t += seconds

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        self.t += seconds
