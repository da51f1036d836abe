"""Planted editors that would game each published number, run through the same `evaluate`
path as every editor, on the quick-mode zoo model trained on real MedMNIST images.

First the model is shown to be trained well enough for the metrics to move (above chance on
understanding; damage to an unrelated layer visibly lowers locality); then each cheap trick
is shown not to pay.
"""

from __future__ import annotations

from typing import Any

import pytest

from evaluator.run import RunSpec, run_evaluation

EDITS = 24  # edits per run, stratified over both tiers

# every test here runs with the planted editors registered, for that test only
pytestmark = pytest.mark.usefixtures("planted_editors")


@pytest.fixture(scope="module")
def quick_model(quick_zoo_dir):
    from evaluator.models import load_vlm

    return load_vlm(str(quick_zoo_dir), device="cpu")


@pytest.fixture(scope="module")
def quick_public(quick_benchmark_dir):
    from evaluator.benchmark import load_benchmark

    return load_benchmark(str(quick_benchmark_dir), "public")


@pytest.fixture(scope="module")
def evaluate_on_quick(quick_model, quick_public, quick_zoo_dir, quick_benchmark_dir):
    cache: dict[tuple[str, str, str], dict[str, Any]] = {}

    def run(editor: str, setting: str = "single", **config: Any) -> dict[str, Any]:
        key = (editor, setting, repr(sorted(config.items())))
        if key not in cache:
            spec = RunSpec(
                model=str(quick_zoo_dir),
                revision=None,
                editor=editor,
                config=config,
                benchmark=str(quick_benchmark_dir),
                split="public",
                setting=setting,
                limit=EDITS,
            )
            cache[key] = run_evaluation(spec, adapter=quick_model, split_data=quick_public)
        return cache[key]

    return run


def overall(result: dict[str, Any], metric: str) -> float:
    return result["metrics"]["overall"][metric]["mean"]


def test_the_quick_model_is_trained_enough_for_the_metrics_to_move(evaluate_on_quick):
    noop = evaluate_on_quick("planted-noop")
    accuracy = noop["pre_edit"]["understanding"]["accuracy"]["mean"]
    assert accuracy >= 0.45, f"understanding accuracy {accuracy:.3f}; chance is about 0.28"
    damaged = evaluate_on_quick("planted-perturb", layer=0, scale=1.0)
    assert overall(damaged, "locality") < 0.95, "damage to an unrelated layer must show"
    assert overall(noop, "locality") == 1.0


def test_every_limited_run_covers_both_tiers_with_the_models_errors(evaluate_on_quick):
    result = evaluate_on_quick("planted-noop")
    edits = result["benchmark"]["edits"]
    assert edits["understanding"] > 0 and edits["reasoning"] > 0
    assert sum(edits.values()) == EDITS == result["benchmark"]["cases"]
    for tier in ("overall", "understanding", "reasoning"):
        assert result["pre_edit"][tier]["reliability"]["mean"] == 0.0


def test_a_do_nothing_editor_scores_reliability_0_and_locality_1(evaluate_on_quick):
    for setting in ("single", "lifelong"):
        result = evaluate_on_quick("planted-noop", setting)
        assert overall(result, "reliability") == 0.0
        for part in ("locality_text", "locality_image", "locality_mc"):
            assert overall(result, part) == 1.0


@pytest.mark.parametrize("setting", ["single", "lifelong"])
def test_a_letter_bias_editor_fails_generality_and_locality(evaluate_on_quick, setting):
    result = evaluate_on_quick("planted-letter-bias", setting)
    if setting == "single":  # lifelong: only the newest edit's letter stays biased
        assert overall(result, "reliability") == 1.0, "the bias does reach the edit's letter"
    assert overall(result, "generality") <= 0.6
    assert overall(result, "locality") < 0.9
    assert overall(result, "locality_mc") < 0.9


def test_case_agnostic_noise_scores_below_fine_tuning(evaluate_on_quick):
    noise = evaluate_on_quick("planted-perturb", layer=-1, scale=1.0)
    finetune = evaluate_on_quick("ft")
    assert overall(noise, "score") < overall(finetune, "score")
    assert overall(finetune, "reliability") > overall(noise, "reliability")


def test_grace_keeps_locality_where_the_letter_bias_loses_it(evaluate_on_quick):
    grace = evaluate_on_quick("grace")
    assert overall(grace, "reliability") >= 0.9
    assert overall(grace, "locality") >= 0.95
    bias = evaluate_on_quick("planted-letter-bias")
    assert overall(grace, "score") > overall(bias, "score")
