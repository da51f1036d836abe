"""Per-organisation submission quotas: at most N requests in a sliding window."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta


class QuotaExceededError(Exception):
    """The organisation has used its quota; `next_slot` is when the oldest request ages out."""

    def __init__(self, organisation: str, quota: Quota, next_slot: datetime) -> None:
        self.organisation = organisation
        self.quota = quota
        self.next_slot = next_slot
        super().__init__(
            f"organisation {organisation!r} has used its {quota.max_requests} submissions in the "
            f"last {quota.describe_window()}; the next slot opens at "
            f"{next_slot.strftime('%Y-%m-%d %H:%M')} UTC"
        )


@dataclasses.dataclass(frozen=True)
class Quota:
    """`max_requests` per organisation within any `window` (default 5 per 7 days)."""

    max_requests: int = 5
    window: timedelta = timedelta(days=7)

    def describe_window(self) -> str:
        days = self.window / timedelta(days=1)
        if days >= 1 and days == int(days):
            return f"{int(days)} day{'s' if days != 1 else ''}"
        return f"{self.window.total_seconds() / 3600:g} hours"

    def window_start(self, now: datetime) -> datetime:
        return now - self.window

    def check(self, organisation: str, recent: Sequence[datetime], now: datetime) -> None:
        """Raise QuotaExceededError if `recent` (submit times inside the window) is full."""
        recent = sorted(t for t in recent if t > self.window_start(now))
        if len(recent) < self.max_requests:
            return
        oldest_counted = recent[len(recent) - self.max_requests]
        raise QuotaExceededError(organisation, self, oldest_counted + self.window)
