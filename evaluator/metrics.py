"""Per-case edit scores and their summary: means per task tier with seeded bootstrap intervals.

Reliability and generality are sequence exact match (token accuracy in the token-level
view); locality is the share of answer positions whose argmax agrees with the unedited
model's argmax, the same number in both views. The headline score of a case is the mean of its
reliability, generality and locality, so its interval comes from the same case resamples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
# A question type with fewer edits than this gets its mean and n but no interval (ci95 null,
# too_few_edits true): a percentile bootstrap over a handful of cases is too unstable to show,
# so the board says "too few edits" instead. 10 is the usual floor for a bootstrap interval.
MIN_EDITS_FOR_CI = 10
# the metrics reported per question type (`metrics_by_type`): the headline score and its parts
BY_TYPE_METRICS = ("score", *HEADLINE_METRICS)


@dataclass(frozen=True)
class CaseScores:
    """The scores of one case: `exact` and `token` map each of BASE_METRICS to a value in [0, 1];
    `probes` are the edited model's raw probe scores they came from (PROBE_KINDS order; what a
    public-split result's per-case predictions are read from)."""

    task: str
    exact: Mapping[str, float]
    token: Mapping[str, float]
    probes: tuple[ProbeScore, ...] = field(default=(), compare=False, repr=False)


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
    """Turn a case's six probe scores (contract.names.PROBE_KINDS order) into its metric values;
    `references` are the untouched model's scores of the same probes."""
    edit, rephrase, image_rephrase, *locality = scores
    shares = {
        name: locality_share(probe, reference.argmax_ids)
        for name, probe, reference in zip(LOCALITY_PARTS, locality, references[3:], strict=True)
    }
    probes = {"reliability": edit, "generality_text": rephrase, "generality_image": image_rephrase}
    exact = {name: float(p.exact_match) for name, p in probes.items()} | shares
    token = {name: p.token_accuracy for name, p in probes.items()} | shares
    return CaseScores(task=task, exact=exact, token=token, probes=tuple(scores))


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


def summarize_by_type(
    cases: Sequence[CaseScores],
    question_types: Sequence[str],
    *,
    seed: int,
    resamples: int = BOOTSTRAP_RESAMPLES,
    min_edits: int = MIN_EDITS_FOR_CI,
) -> dict[str, dict[str, Any]]:
    """`metrics_by_type`: {question type: {tier, n, too_few_edits, score, reliability,
    generality, locality}} from the exact-match per-case scores; `question_types[i]` is the
    type of `cases[i]`. Types are ordered by tier, then name; a type name found in both tiers
    (not in a built benchmark) is keyed "<tier>/<type>" for each.

    Each type is bootstrapped like a tier (`summarize`): its case indices resampled once from a
    generator seeded with (seed, tier, type), shared by its metrics. A type with fewer than
    `min_edits` edits gets its mean with `ci95` null and `too_few_edits` true.
    """
    if len(question_types) != len(cases):
        raise ValueError(f"{len(question_types)} question types for {len(cases)} cases")
    groups = sorted({(TIERS.index(c.task), q) for c, q in zip(cases, question_types, strict=True)})
    shared = {q for _, q in groups if sum(q == other for _, other in groups) > 1}
    rows = [with_derived(c.exact) for c in cases]
    out: dict[str, dict[str, Any]] = {}
    for tier_number, qtype in groups:
        tier = TIERS[tier_number]
        members = [
            i for i, (c, q) in enumerate(zip(cases, question_types, strict=True))
            if c.task == tier and q == qtype
        ]  # fmt: skip
        too_few = len(members) < min_edits
        entry: dict[str, Any] = {"tier": tier, "n": len(members), "too_few_edits": too_few}
        indices = None
        if not too_few:
            rng = np.random.default_rng([seed, tier_number, *qtype.encode()])
            indices = rng.integers(0, len(members), size=(resamples, len(members)))
        for name in BY_TYPE_METRICS:
            values = np.array([rows[i][name] for i in members], dtype=np.float64)
            ci = None if indices is None else list(bootstrap_ci(values, indices))
            entry[name] = {"mean": float(values.mean()), "ci95": ci}
        out[f"{tier}/{qtype}" if qtype in shared else qtype] = entry
    return out
