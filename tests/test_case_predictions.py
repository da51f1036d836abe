"""Per-case predictions (result schema 4, `cases`): a public-split run records, for each edit
case and probe, the letters answered before and after the edit and the hits, consistent with
its metrics; a hidden-split run records none, and a hidden-split result carrying any is
refused (DESIGN.md invariant 3). The fields come from one definition (contract.result_schema)."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest

from contract.names import LETTER_PROBES, PROBE_KINDS
from contract.result_schema import FIELDS, SCHEMA_VERSION, keys_of, schema_markdown
from evaluator.models.probe import ProbeScore
from evaluator.predictions import answered_letter
from evaluator.result import TOP_LEVEL_KEYS, validate_result


def test_a_public_run_records_every_edit_case_and_probe(tiny_results, tiny_public_split):
    by_id = {c.case_id: c for c in tiny_public_split.cases}
    letters_seen = 0
    for (editor, setting), result in tiny_results.items():
        assert result["schema_version"] == SCHEMA_VERSION == 4
        assert tuple(result) == TOP_LEVEL_KEYS
        entries = result["cases"]
        assert len(entries) == result["benchmark"]["cases"], (editor, setting)
        for entry in entries:
            case = by_id[entry["case_id"]]
            assert (entry["tier"], entry["question_type"]) == (case.task, case.question_type)
            probes = entry["probes"]
            assert tuple(probes) == PROBE_KINDS
            assert probes["edit"]["expected"] == case.target
            assert probes["rephrase"]["expected"] == case.rephrase_target
            assert probes["image_rephrase"]["expected"] == case.rephrase_target
            assert probes["loc_mc"]["expected"] == case.mc_loc_answer
            assert probes["edit"]["hit_before"] is False  # the edits are the model's errors
            options = {
                "edit": case.options,
                "rephrase": case.rephrase_options,
                "image_rephrase": case.rephrase_options,
                "loc_mc": case.mc_loc_options,
            }
            for kind, p in probes.items():
                if kind not in LETTER_PROBES:
                    assert (p["expected"], p["before"], p["after"]) == (None, None, None)
                    continue
                for when in ("before", "after"):
                    if p[when] is not None:
                        letters_seen += 1
                        assert p[when] in options[kind]
                        assert (p[when] == p["expected"]) == p[f"hit_{when}"], (kind, when, p)
            assert probes["edit"]["before"] != case.target
        # the per-case hits are what the metrics average
        for name, kind in (("reliability", "edit"), ("generality_text", "rephrase")):
            hits = [float(e["probes"][kind]["hit_after"]) for e in entries]
            assert np.mean(hits) == pytest.approx(result["metrics"]["overall"][name]["mean"])
    assert letters_seen > 0  # the tokenizer's letters are decoded, not all null


def test_a_hidden_split_run_records_no_cases(tiny_zoo_adapter, tiny_benchmark_dir):
    from evaluator.benchmark import load_benchmark
    from evaluator.run import RunSpec, run_evaluation

    hidden = load_benchmark(str(tiny_benchmark_dir), "hidden")
    hidden = dataclasses.replace(hidden, cases=hidden.cases[:8])  # a short reference pass
    spec = RunSpec(
        model="unused", revision=None, editor="ike", config={},
        benchmark=str(tiny_benchmark_dir), split="hidden", setting="single", limit=1,
    )  # fmt: skip
    result = run_evaluation(spec, adapter=tiny_zoo_adapter, split_data=hidden)
    assert result["benchmark"]["split"] == "hidden"
    assert result["cases"] is None
    text = json.dumps(result)
    assert not [c.case_id for c in hidden.cases if f'"{c.case_id}"' in text]


def test_a_hidden_split_result_carrying_cases_is_refused(tiny_results):
    public = tiny_results[("ike", "single")]
    hidden = copy.deepcopy(public)
    hidden["benchmark"]["split"] = "hidden"
    with pytest.raises(ValueError, match="cases must be null for a hidden-split result"):
        validate_result(hidden)
    hidden["cases"] = None
    validate_result(hidden)


def broken(result: dict, change) -> dict:
    out = copy.deepcopy(result)
    change(out)
    return out


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda r: r.update(cases=None), r"cases must be a list"),
        (lambda r: r["cases"].pop(), r"cases must be a list"),
        (lambda r: r["cases"][0]["probes"]["edit"].update(after="AB"), r"edit\.after"),
        (lambda r: r["cases"][0]["probes"]["edit"].update(expected=None), r"edit\.expected"),
        (lambda r: r["cases"][0]["probes"]["loc_text"].update(before="A"), r"loc_text\.before"),
        (lambda r: r["cases"][0]["probes"]["loc_mc"].update(hit_after=1), r"loc_mc\.hit_after"),
        (lambda r: r["cases"][0]["probes"].pop("loc_image"), r"probes\.loc_image"),
        (lambda r: r["cases"][0]["probes"]["edit"].update(text="x"), r"edit\.text"),
        (lambda r: r["cases"][0].update(tier="other"), r"cases\[0\]\.tier"),
        (lambda r: r["cases"][0].update(case_id=""), r"cases\[0\]\.case_id"),
    ],
)
def test_broken_predictions_are_refused_naming_the_key(tiny_results, change, named):
    with pytest.raises(ValueError, match=named):
        validate_result(broken(tiny_results[("grace", "lifelong")], change))


def test_older_results_without_cases_still_validate(tiny_results):
    result = tiny_results[("ft", "single")]
    schema_3 = {k: v for k, v in copy.deepcopy(result).items() if k != "cases"}
    schema_3["schema_version"] = 3
    validate_result(schema_3)
    schema_3["cases"] = result["cases"]
    with pytest.raises(ValueError, match="cases"):
        validate_result(schema_3)  # a schema-3 record has no such field


class LetterDecoder:
    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return " " + "".join(chr(65 + i) for i in ids)


def test_the_answered_letter_is_decoded_and_kept_only_when_it_is_an_option():
    score = ProbeScore(answer_ids=(1,), argmax_ids=(2,), token_accuracy=0.0, exact_match=False)
    options = {"A": "liver", "B": "kidney", "C": "spleen"}
    assert answered_letter(score, options, LetterDecoder()) == "C"
    assert answered_letter(score, {"A": "x", "B": "y"}, LetterDecoder()) is None
    assert answered_letter(score, None, LetterDecoder()) is None  # a free-text probe
    assert answered_letter(score, options, None) is None


def test_the_schema_is_defined_once_and_documented_from_that_definition():
    assert keys_of("") == TOP_LEVEL_KEYS and "cases" in keys_of("")
    assert "cases" not in keys_of("", 3) and "metrics_by_type" not in keys_of("", 2)
    table = schema_markdown()
    assert all(f"`{f.path}`" in table for f in FIELDS)
    from pathlib import Path

    from leaderboard.about import about_markdown

    assert table in about_markdown(Path("/nonexistent/manifest.json"))
    docs = (Path(__file__).resolve().parent.parent / "docs" / "evaluator.md").read_text()
    assert table in docs, "docs/evaluator.md: paste contract.result_schema.schema_markdown()"
