"""Per-case edit scores and their summary: means per task tier with seeded bootstrap intervals.

Reliability and generality are sequence exact match (token accuracy in the token-level
view); locality is the share of answer positions whose argmax agrees with the unedited
model's argmax, the same number in both views.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluator.models.probe import ProbeScore

TIERS = ("overall", "understanding", "reasoning")
BASE_METRICS = (
    "reliability",
    "generality_text",
    "generality_image",
    "locality_text",
    "locality_image",
)
METRICS = (
    "reliability",
    "generality",
    "generality_text",
    "generality_image",
    "locality",
    "locality_text",
    "locality_image",
)
PRE_EDIT_METRICS = ("reliability", "generality")
BOOTSTRAP_RESAMPLES = 1000
CI_LEVEL = 0.95


@dataclass(frozen=True)
class CaseScores:
    """The scores of one case: `exact` and `token` map each of BASE_METRICS to a value in [0, 1]."""

    task: str
    exact: Mapping[str, float]
    token: Mapping[str, float]


def locality_share(edited: ProbeScore, reference_argmax: Sequence[int]) -> float:
    """Share of answer positions where the edited argmax equals the unedited argmax."""
    if len(edited.argmax_ids) != len(reference_argmax):
        raise ValueError(
            f"locality probe has {len(edited.argmax_ids)} answer positions after the edit but "
            f"{len(reference_argmax)} before; an editor must not change a probe's answer tokens"
        )
    if not reference_argmax:
        raise ValueError("locality probe has no answer tokens; check the case's loc answers")
    same = sum(a == b for a, b in zip(edited.argmax_ids, reference_argmax, strict=True))
    return same / len(reference_argmax)


def score_case(
    task: str,
    edit: ProbeScore,
    rephrase: ProbeScore,
    image_rephrase: ProbeScore,
    loc_text: ProbeScore,
    loc_image: ProbeScore,
    *,
    loc_text_reference: Sequence[int],
    loc_image_reference: Sequence[int],
) -> CaseScores:
    """Turn the five probe scores of one case into its metric values."""
    lt = locality_share(loc_text, loc_text_reference)
    li = locality_share(loc_image, loc_image_reference)
    exact = {
        "reliability": float(edit.exact_match),
        "generality_text": float(rephrase.exact_match),
        "generality_image": float(image_rephrase.exact_match),
        "locality_text": lt,
        "locality_image": li,
    }
    token = {
        "reliability": edit.token_accuracy,
        "generality_text": rephrase.token_accuracy,
        "generality_image": image_rephrase.token_accuracy,
        "locality_text": lt,
        "locality_image": li,
    }
    return CaseScores(task=task, exact=exact, token=token)


def with_derived(values: Mapping[str, float]) -> dict[str, float]:
    """Add generality and locality, each the mean of its text and image parts."""
    out = dict(values)
    if "generality_text" in values:
        out["generality"] = (values["generality_text"] + values["generality_image"]) / 2
    if "locality_text" in values:
        out["locality"] = (values["locality_text"] + values["locality_image"]) / 2
    return out


def bootstrap_ci(
    values: np.ndarray, indices: np.ndarray, level: float = CI_LEVEL
) -> tuple[float, float]:
    """Percentile interval of the mean of `values` over the resampled `indices` [R, n]."""
    means = values[indices].mean(axis=1)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


def summarize(
    per_case: Sequence[Mapping[str, float]],
    tasks: Sequence[str],
    names: Sequence[str],
    *,
    seed: int,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> dict[str, dict[str, Any]]:
    """{tier: {metric: {mean, ci95}}} for each tier; a tier with no cases gets null mean and ci95.

    The resampled case indices are drawn once per tier from `seed` and shared by all metrics
    (a paired bootstrap), so the same inputs and seed always give the same intervals.
    """
    out: dict[str, dict[str, Any]] = {}
    for tier_number, tier in enumerate(TIERS):
        rows = [i for i, task in enumerate(tasks) if tier == "overall" or task == tier]
        if not rows:
            out[tier] = {name: {"mean": None, "ci95": None} for name in names}
            continue
        rng = np.random.default_rng([seed, tier_number])
        indices = rng.integers(0, len(rows), size=(resamples, len(rows)))
        out[tier] = {}
        for name in names:
            values = np.array([per_case[i][name] for i in rows], dtype=np.float64)
            lo, hi = bootstrap_ci(values, indices)
            out[tier][name] = {"mean": float(values.mean()), "ci95": [lo, hi]}
    return out


def summarize_cases(cases: Sequence[CaseScores], *, seed: int) -> dict[str, dict[str, Any]]:
    """`metrics` and `token_metrics` of a result from the per-case scores."""
    tasks = [c.task for c in cases]
    return {
        "metrics": summarize([with_derived(c.exact) for c in cases], tasks, METRICS, seed=seed),
        "token_metrics": summarize(
            [with_derived(c.token) for c in cases], tasks, METRICS, seed=seed
        ),
    }


def summarize_pre_edit(
    tasks: Sequence[str],
    edit: Sequence[ProbeScore],
    rephrase: Sequence[ProbeScore],
    image_rephrase: Sequence[ProbeScore],
    *,
    seed: int,
) -> dict[str, dict[str, Any]]:
    """`pre_edit`: reliability and generality (exact match) of the untouched model."""
    per_case = [
        {
            "reliability": float(e.exact_match),
            "generality": (float(r.exact_match) + float(i.exact_match)) / 2,
        }
        for e, r, i in zip(edit, rephrase, image_rephrase, strict=True)
    ]
    return summarize(per_case, tasks, PRE_EDIT_METRICS, seed=seed)


def overall_means(cases: Sequence[CaseScores]) -> dict[str, float]:
    """Overall exact-match means of reliability, generality and locality (a curve point)."""
    rows = [with_derived(c.exact) for c in cases]
    return {
        name: float(np.mean([r[name] for r in rows]))
        for name in ("reliability", "generality", "locality")
    }
