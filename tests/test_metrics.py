"""Metric definitions: locality agreement, exact vs token views, tiers and bootstrap intervals."""

import math

import numpy as np
import pytest

from contract.names import BASE_METRICS, METRICS
from evaluator.metrics import CaseScores, locality_share, score_case, summarize, summarize_cases
from evaluator.models.probe import ProbeScore


def probe_score(answer, argmax):
    hits = sum(a == b for a, b in zip(answer, argmax, strict=True))
    return ProbeScore(tuple(answer), tuple(argmax), hits / len(answer), hits == len(answer))


def test_locality_is_the_share_of_positions_agreeing_with_the_unedited_argmax():
    edited = probe_score([5, 6, 7, 8], [1, 2, 9, 9])
    assert locality_share(edited, [1, 2, 3, 4]) == 0.5
    assert locality_share(edited, [1, 2, 9, 9]) == 1.0


def test_locality_ignores_whether_the_answer_itself_is_right():
    wrong_but_unchanged = probe_score([5, 6], [1, 2])
    assert wrong_but_unchanged.token_accuracy == 0
    assert locality_share(wrong_but_unchanged, [1, 2]) == 1.0


def test_locality_refuses_a_probe_whose_answer_length_changed():
    with pytest.raises(ValueError, match="answer positions"):
        locality_share(probe_score([1, 2, 3], [1, 2, 3]), [1, 2])


def test_reliability_is_exact_match_and_token_accuracy_sits_beside_it():
    half_right = probe_score([1, 2], [1, 9])
    all_right = probe_score([3], [3])
    loc = probe_score([4, 4], [4, 4])
    mc = probe_score([7], [8])
    references = [None, None, None, loc, probe_score([4, 4], [4, 0]), probe_score([7], [7])]
    scores = score_case(
        "understanding", [half_right, all_right, half_right, loc, loc, mc], references
    )
    assert scores.exact["reliability"] == 0.0
    assert scores.token["reliability"] == 0.5
    assert scores.exact["generality_text"] == scores.token["generality_text"] == 1.0
    assert scores.exact["locality_image"] == scores.token["locality_image"] == 0.5
    assert scores.exact["locality_mc"] == 0.0, "the multiple-choice answer moved off the reference"


def case(task, **values):
    filled = {name: values.get(name, 0.0) for name in BASE_METRICS}
    return CaseScores(task=task, exact=filled, token=filled)


def test_generality_and_locality_are_the_means_of_their_parts():
    cases = [
        case("understanding", generality_text=1.0, generality_image=0.0, locality_text=1.0),
        case("reasoning", generality_text=1.0, generality_image=1.0, locality_image=0.5),
    ]
    overall = summarize_cases(cases, seed=0)["metrics"]["overall"]
    assert overall["generality"]["mean"] == pytest.approx(0.75)
    assert overall["generality"]["mean"] == pytest.approx(
        (overall["generality_text"]["mean"] + overall["generality_image"]["mean"]) / 2
    )
    assert overall["locality"]["mean"] == pytest.approx(0.25)
    assert overall["locality"]["mean"] == pytest.approx(
        sum(overall[n]["mean"] for n in ("locality_text", "locality_image", "locality_mc")) / 3
    )


def test_the_score_has_its_own_interval_from_the_same_resamples():
    rng = np.random.default_rng(4)
    cases = [
        case(
            "understanding" if i % 2 else "reasoning",
            reliability=float(rng.integers(2)),
            generality_text=float(rng.integers(2)),
            generality_image=float(rng.integers(2)),
            locality_text=float(rng.random()),
            locality_image=float(rng.random()),
            locality_mc=float(rng.integers(2)),
        )
        for i in range(60)
    ]
    overall = summarize_cases(cases, seed=0)["metrics"]["overall"]
    parts = [overall[n]["mean"] for n in ("reliability", "generality", "locality")]
    assert overall["score"]["mean"] == pytest.approx(sum(parts) / 3)
    lo, hi = overall["score"]["ci95"]
    mean_of_endpoints = [
        sum(overall[n]["ci95"][k] for n in ("reliability", "generality", "locality")) / 3
        for k in (0, 1)
    ]
    assert lo < overall["score"]["mean"] < hi
    # the score's own interval is narrower than the mean of its parts' intervals (the parts
    # are not perfectly correlated), so it is not that average
    assert hi - lo < mean_of_endpoints[1] - mean_of_endpoints[0]


def test_each_tier_averages_only_its_own_cases():
    cases = [case("understanding", reliability=1.0)] * 3 + [case("reasoning")] * 2
    metrics = summarize_cases(cases, seed=0)["metrics"]
    assert metrics["understanding"]["reliability"]["mean"] == 1.0
    assert metrics["reasoning"]["reliability"]["mean"] == 0.0
    assert metrics["overall"]["reliability"]["mean"] == pytest.approx(0.6)
    assert set(metrics["overall"]) == set(METRICS)


def test_a_tier_without_cases_reports_null():
    metrics = summarize_cases([case("understanding", reliability=1.0)], seed=0)["metrics"]
    assert metrics["reasoning"]["reliability"] == {"mean": None, "ci95": None}
    assert metrics["understanding"]["reliability"] == {"mean": 1.0, "ci95": [1.0, 1.0]}


def test_bootstrap_interval_matches_the_normal_approximation_for_many_cases():
    rng = np.random.default_rng(1)
    values = [{"x": float(v)} for v in rng.integers(0, 2, size=400)]
    block = summarize(values, ["understanding"] * 400, ["x"], seed=3)["overall"]["x"]
    mean = block["mean"]
    half_width = 1.96 * math.sqrt(mean * (1 - mean) / 400)
    lo, hi = block["ci95"]
    assert lo < mean < hi
    assert lo == pytest.approx(mean - half_width, abs=0.015)
    assert hi == pytest.approx(mean + half_width, abs=0.015)


def test_bootstrap_is_reproducible_for_a_seed_and_varies_with_it():
    rng = np.random.default_rng(2)
    values = [{"x": float(v)} for v in rng.random(50)]
    tasks = ["understanding"] * 50
    first = summarize(values, tasks, ["x"], seed=7)
    assert summarize(values, tasks, ["x"], seed=7) == first
    assert (
        summarize(values, tasks, ["x"], seed=8)["overall"]["x"]["ci95"]
        != first["overall"]["x"]["ci95"]
    )
