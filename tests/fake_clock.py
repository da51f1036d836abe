"""A clock for `Store(url, clock=...)`: it stands still until a test advances it, so lease
expiry is decided by the test, not by sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeClock:
    """Returns `now` (UTC); `advance(seconds)` moves it forward."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
