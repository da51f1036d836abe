"""metrics_by_type: the headline metrics per question type, on a real run of the tiny zoo
model; a type with too few edits has no interval; schema-2 results still validate."""

import copy

import numpy as np
import pytest

import evaluator.run as run_module
from evaluator.editors.registry import registered
from evaluator.metrics import MIN_EDITS_FOR_CI, CaseScores, summarize_by_type
from evaluator.result import SCHEMA_VERSION, TOP_LEVEL_KEYS, validate_result
from evaluator.run import RunSpec, run_evaluation
from tests.planted_editors import PLANTED

HEADLINE = ("score", "reliability", "generality", "locality")


def case_values(case: CaseScores) -> dict[str, float]:
    """The headline metrics of one case, computed here from its exact-match parts."""
    e = case.exact
    generality = (e["generality_text"] + e["generality_image"]) / 2
    locality = (e["locality_text"] + e["locality_image"] + e["locality_mc"]) / 3
    reliability = e["reliability"]
    score = (reliability + generality + locality) / 3
    return {
        "score": score,
        "reliability": reliability,
        "generality": generality,
        "locality": locality,
    }


@pytest.fixture(scope="module")
def captured(tiny_zoo_adapter, tiny_public_split, tiny_llava_onevision_dir, tiny_benchmark_dir):
    """A real single run (an editor that changes the model) with its per-case scores and the
    question types of its edits, captured as the run assembles its result."""
    seen = {}
    original = run_module.assemble_result

    def spy(run, reference, case_scores, *args, **kwargs):
        seen["cases"] = list(case_scores)
        seen["types"] = [c.question_type for c in reference.cases(run.split)]
        return original(run, reference, case_scores, *args, **kwargs)

    spec = RunSpec(
        model=str(tiny_llava_onevision_dir),
        revision=None,
        editor="planted-perturb",
        config={"layer": 0, "scale": 20.0},
        benchmark=str(tiny_benchmark_dir),
        split="public",
        setting="single",
        limit=24,
        seed=3,
    )
    with pytest.MonkeyPatch.context() as patch, registered(*PLANTED):
        patch.setattr(run_module, "assemble_result", spy)
        result = run_evaluation(spec, adapter=tiny_zoo_adapter, split_data=tiny_public_split)
    return result, seen["cases"], seen["types"]


def test_a_real_run_reports_every_question_type_of_its_edits(captured):
    result, cases, types = captured
    assert result["schema_version"] == SCHEMA_VERSION == 4
    validate_result(result)
    by_type = result["metrics_by_type"]
    assert set(by_type) == set(types)
    assert len(set(types)) >= 2
    for tier, edits in result["benchmark"]["edits"].items():
        assert sum(e["n"] for e in by_type.values() if e["tier"] == tier) == edits
    for case, qtype in zip(cases, types, strict=True):
        assert by_type[qtype]["tier"] == case.task


def test_each_type_mean_is_the_mean_over_its_cases(captured):
    result, cases, types = captured
    for qtype, entry in result["metrics_by_type"].items():
        members = [case_values(c) for c, t in zip(cases, types, strict=True) if t == qtype]
        assert entry["n"] == len(members)
        for name in HEADLINE:
            expected = float(np.mean([m[name] for m in members]))
            assert entry[name]["mean"] == pytest.approx(expected, abs=1e-12)


def test_a_type_below_the_minimum_has_no_interval(captured):
    result, _, _ = captured
    entries = result["metrics_by_type"].values()
    small = [e for e in entries if e["n"] < MIN_EDITS_FOR_CI]
    assert small, "the limit of 24 edits over 9 types leaves some type below the minimum"
    for entry in small:
        assert entry["too_few_edits"] is True
        assert all(entry[name]["ci95"] is None for name in HEADLINE)
        assert all(entry[name]["mean"] is not None for name in HEADLINE)


def test_a_type_with_enough_edits_gets_a_seeded_interval_containing_its_mean(captured):
    _, cases, types = captured
    first = summarize_by_type(cases, types, seed=3, min_edits=1)
    assert first == summarize_by_type(cases, types, seed=3, min_edits=1)
    for entry in first.values():
        assert entry["too_few_edits"] is False
        for name in HEADLINE:
            lo, hi = entry[name]["ci95"]
            assert lo <= entry[name]["mean"] <= hi


def test_the_type_counts_must_add_up_and_too_few_means_no_interval(captured):
    result, _, _ = captured
    qtype, entry = next(iter(result["metrics_by_type"].items()))
    bad = copy.deepcopy(result)
    bad["metrics_by_type"][qtype]["n"] = entry["n"] + 1
    with pytest.raises(ValueError, match="metrics_by_type"):
        validate_result(bad)
    bad = copy.deepcopy(result)
    bad["metrics_by_type"][qtype]["too_few_edits"] = True
    bad["metrics_by_type"][qtype]["score"]["ci95"] = [0.0, 1.0]
    if not entry["too_few_edits"]:
        with pytest.raises(ValueError, match=r"metrics_by_type\..*ci95"):
            validate_result(bad)
    bad = copy.deepcopy(result)
    del bad["metrics_by_type"]
    with pytest.raises(ValueError, match="metrics_by_type"):
        validate_result(bad)


def test_a_schema_2_result_without_the_block_still_validates(captured):
    result, _, _ = captured
    newer = ("metrics_by_type", "cases")  # schema 3 and 4
    old = {k: v for k, v in copy.deepcopy(result).items() if k not in newer}
    old["schema_version"] = 2
    validate_result(old)
    assert "metrics_by_type" in TOP_LEVEL_KEYS
    with_block = {k: v for k, v in copy.deepcopy(result).items() if k != "cases"}
    with_block["schema_version"] = 2
    with pytest.raises(ValueError, match="metrics_by_type"):
        validate_result(with_block)
    old["schema_version"] = 5
    with pytest.raises(ValueError, match="schema_version"):
        validate_result(old)
