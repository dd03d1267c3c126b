"""Time and sleeping behind one small interface, so tests never sleep for real."""

from __future__ import annotations

import datetime as dt
import threading
import time


class Clock:
    def now(self) -> dt.datetime:
        """Return the current time, timezone-aware in UTC."""
        return dt.datetime.now(dt.timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> None:
        """Sleep, waking early when `stop` is set."""
        if stop is None:
            time.sleep(seconds)
        else:
            stop.wait(seconds)


class FakeClock(Clock):
    """A clock that moves only when a test sleeps or calls `advance`."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._now = start or dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        self._monotonic = 0.0

    def now(self) -> dt.datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self._now += dt.timedelta(seconds=seconds)
        self._monotonic += seconds
