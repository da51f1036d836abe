"""Submission quotas: at most N requests per organisation (and optionally per submitter) in a
sliding window. Organisations and submitters are compared by `record.identity_key` (NFKC +
casefold), stored beside each request."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta

from contract.limits import QUOTA_MAX_REQUESTS, QUOTA_WINDOW, clip


class QuotaExceededError(Exception):
    """`who` (an organisation or a submitter, per `field`) has used its quota; `next_slot` is
    when the oldest counted request ages out of the window."""

    def __init__(
        self,
        who: str,
        quota: Quota,
        next_slot: datetime,
        *,
        field: str = "organisation",
        limit: int | None = None,
    ) -> None:
        self.who = who
        self.organisation = who
        self.field = field
        self.quota = quota
        self.next_slot = next_slot
        count = quota.max_requests if limit is None else limit
        super().__init__(
            f"{field} {clip(who, 100)} has used its {count} submissions in the last "
            f"{quota.describe_window()}; the next slot opens at "
            f"{next_slot.strftime('%Y-%m-%d %H:%M')} UTC"
        )


@dataclasses.dataclass(frozen=True)
class Quota:
    """`max_requests` per organisation within any `window` (default 5 per 7 days); with
    `max_per_submitter`, also at most that many per submitter across organisations."""

    max_requests: int = QUOTA_MAX_REQUESTS
    window: timedelta = QUOTA_WINDOW
    max_per_submitter: int | None = None

    def describe_window(self) -> str:
        days = self.window / timedelta(days=1)
        if days >= 1 and days == int(days):
            return f"{int(days)} day{'s' if days != 1 else ''}"
        return f"{self.window.total_seconds() / 3600:g} hours"

    def window_start(self, now: datetime) -> datetime:
        return now - self.window

    def check(
        self,
        who: str,
        recent: Sequence[datetime],
        now: datetime,
        *,
        field: str = "organisation",
        limit: int | None = None,
    ) -> None:
        """Raise QuotaExceededError if `recent` (submit times inside the window) already holds
        `limit` requests (default `max_requests`)."""
        limit = self.max_requests if limit is None else limit
        recent = sorted(t for t in recent if t > self.window_start(now))
        if len(recent) < limit:
            return
        oldest_counted = recent[len(recent) - limit] if limit > 0 else now
        raise QuotaExceededError(who, self, oldest_counted + self.window, field=field, limit=limit)
