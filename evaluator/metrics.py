"""Per-case edit scores and their summary: means per task tier with seeded bootstrap intervals.

Reliability and generality are sequence exact match (token accuracy in the token-level
view); locality is the share of answer positions whose argmax agrees with the unedited
model's argmax, the same number in both views. The headline score of a case is the mean of its
reliability, generality and locality, so its interval comes from the same case resamples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from contract.names import (
    GENERALITY_PARTS,
    HEADLINE_METRICS,
    LOCALITY_PARTS,
    METRICS,
    PRE_EDIT_METRICS,
    TIERS,
)
from evaluator.models.probe import ProbeScore

# the pre-edit values measured on the edit set (accuracy is measured on the whole split)
EDIT_SET_PRE_METRICS = tuple(m for m in PRE_EDIT_METRICS if m != "accuracy")
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
    scores: Sequence[ProbeScore],
    references: Sequence[ProbeScore],
) -> CaseScores:
    """Turn a case's six probe scores (protocols.PROBE_KINDS order) into its metric values;
    `references` are the untouched model's scores of the same probes."""
    edit, rephrase, image_rephrase, *locality = scores
    shares = {
        name: locality_share(probe, reference.argmax_ids)
        for name, probe, reference in zip(LOCALITY_PARTS, locality, references[3:], strict=True)
    }
    probes = {"reliability": edit, "generality_text": rephrase, "generality_image": image_rephrase}
    exact = {name: float(p.exact_match) for name, p in probes.items()} | shares
    token = {name: p.token_accuracy for name, p in probes.items()} | shares
    return CaseScores(task=task, exact=exact, token=token)


def with_derived(values: Mapping[str, float]) -> dict[str, float]:
    """Add generality (mean of its text and image parts), locality (mean of its three parts)
    and the headline score (mean of reliability, generality and locality)."""
    out = dict(values)
    out["generality"] = float(np.mean([values[name] for name in GENERALITY_PARTS]))
    out["locality"] = float(np.mean([values[name] for name in LOCALITY_PARTS]))
    out["score"] = float(np.mean([out[name] for name in HEADLINE_METRICS]))
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
    split_tasks: Sequence[str],
    split_hits: Sequence[bool],
    edit_tasks: Sequence[str],
    edit_references: Sequence[Sequence[ProbeScore]],
    *,
    seed: int,
) -> dict[str, dict[str, Any]]:
    """`pre_edit`: the untouched model's accuracy on the whole split, and its reliability and
    generality (exact match) on the edit set."""
    accuracy = summarize(
        [{"accuracy": float(hit)} for hit in split_hits], split_tasks, ("accuracy",), seed=seed
    )
    per_case = [
        {
            "reliability": float(ref[0].exact_match),
            "generality": (float(ref[1].exact_match) + float(ref[2].exact_match)) / 2,
        }
        for ref in edit_references
    ]
    on_edits = summarize(per_case, edit_tasks, EDIT_SET_PRE_METRICS, seed=seed)
    return {tier: {**accuracy[tier], **on_edits[tier]} for tier in TIERS}


def overall_means(cases: Sequence[CaseScores]) -> dict[str, float]:
    """Overall exact-match means of the score, reliability, generality and locality (a curve
    point)."""
    rows = [with_derived(c.exact) for c in cases]
    return {name: float(np.mean([r[name] for r in rows])) for name in ("score", *HEADLINE_METRICS)}
