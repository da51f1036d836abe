"""What the app shows of background work (the first start's progress), as a Protocol."""

from __future__ import annotations

from typing import Protocol


class StatusLine(Protocol):
    """One markdown line about background work, given the queue's counts by state."""

    def line(self, queue_counts: dict[str, int] | None = None) -> str: ...
