"""`submit` with the evaluator's checks wired in: what scripts, the bootstrap and tests call to
queue a request (`submissions.submit` itself takes the checks as an argument)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from backend.checks import EvaluatorChecks, Resolver
from submissions import RequestRow, Store, SubmissionLimits
from submissions import submit as submit_with


def submit(
    store: Store,
    form: Mapping[str, Any],
    *,
    limits: SubmissionLimits | None = None,
    resolve: Resolver | None = None,
    now: datetime | None = None,
) -> RequestRow:
    """Validate `form` with the evaluator's checks (`resolve` overrides the model resolution)
    and queue it; a refusal raises submissions.SubmissionError and stores nothing."""
    checks = EvaluatorChecks(resolve=resolve)
    return submit_with(store, form, checks=checks, limits=limits, now=now)
