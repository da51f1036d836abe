"""The edit set: the cases the untouched model gets wrong, and a stratified subset of them.

Edits correct errors (as in the paper): a case is an edit when the untouched model does not
reproduce its target on the edit probe. A limit keeps both task tiers: it takes the earliest
errors of each tier in split order (the builder spreads question types over each tier), and
the chosen edits keep their split order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from contract.names import TASKS


@dataclass(frozen=True)
class EditSet:
    """Indices into the split of the chosen edits, and what the choice left out."""

    indices: tuple[int, ...]  # split positions of the edits, in split order
    errors: dict[str, int]  # the untouched model's errors per tier on the whole split
    notes: tuple[str, ...]  # plain-language remarks, e.g. a tier without errors


def proportional_quota(limit: int, available: dict[str, int]) -> dict[str, int]:
    """Split `limit` over the tiers in proportion to `available` (largest remainder), at least
    one edit for every tier that has errors when the limit allows it."""
    total = sum(available.values())
    if limit >= total:
        return dict(available)
    present = [t for t in TASKS if available.get(t, 0) > 0]
    quota = {t: 0 for t in TASKS}
    if limit >= len(present):
        for t in present:
            quota[t] = 1
    remaining = limit - sum(quota.values())
    shares = {t: remaining * available[t] / total for t in present}
    for t in present:
        quota[t] += int(shares[t])
    rest = limit - sum(quota.values())
    for t in sorted(present, key=lambda t: shares[t] - int(shares[t]), reverse=True)[:rest]:
        quota[t] += 1
    return {t: min(quota[t], available.get(t, 0)) for t in TASKS}


def choose_edits(
    tasks: Sequence[str],
    correct: Sequence[bool],
    *,
    limit: int | None = None,
    per_tier: int | None = None,
) -> EditSet:
    """The errors of the split (`correct[i]` is False), optionally at most `per_tier` of each
    tier and at most `limit` in all, stratified by tier."""
    wrong = {
        t: [
            i
            for i, (task, ok) in enumerate(zip(tasks, correct, strict=True))
            if task == t and not ok
        ]
        for t in TASKS
    }
    errors = {t: len(wrong[t]) for t in TASKS}
    quota = dict(errors)
    if per_tier is not None:
        quota = {t: min(quota[t], per_tier) for t in TASKS}
    if limit is not None:
        quota = proportional_quota(limit, quota)
    indices = sorted(i for t in TASKS for i in wrong[t][: quota[t]])
    notes = tuple(
        f"the untouched model makes no error in the {t} tier of this split, so there is "
        f"nothing to edit there and the {t} metrics are empty"
        for t in TASKS
        if tasks.count(t) and not errors[t]
    )
    return EditSet(indices=tuple(indices), errors=errors, notes=notes)
