"""Cross-frame answers as functions of frame labels, and the single-frame checker."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from evaluator.benchmark import load_benchmark
from evaluator.benchmark.reasoning import (
    answer_text,
    check_needs_several_frames,
    frames_deciding_alone,
)

PNEUMONIA, NORMAL = ("pneumoniamnist", "pneumonia"), ("pneumoniamnist", "normal")
NEUTROPHIL = ("bloodmnist", "neutrophil")
LIVER, SPLEEN = ("organamnist", "liver"), ("organamnist", "spleen")
FIVE = ["pneumoniamnist", "bloodmnist", "organamnist", "retinamnist", "breastmnist"]


def _spec(kind: str, frames, universe, **params) -> dict:
    frame_list = [{"flag": f, "label": label} for f, label in frames]
    return {"kind": kind, "frames": frame_list, "universe": universe, **params}


def test_answers_follow_the_frame_labels():
    xray = {"attribute": "modality", "value": "chest X-ray"}
    assert answer_text(_spec("which_frame", [], FIVE, **xray), [NEUTROPHIL, NORMAL]) == "Frame 2"
    found = {"attribute": "finding", "value": "pneumoniamnist:pneumonia"}
    frames = [PNEUMONIA, NORMAL, PNEUMONIA]
    assert answer_text(_spec("count_frames", [], ["pneumoniamnist"], **found), frames) == "2"
    same = _spec("same_organ", [], ["organamnist"], i=1, j=2)
    assert answer_text(same, [LIVER, SPLEEN]) == "No"
    assert answer_text(same, [LIVER, LIVER]) == "Yes"
    grades = [("retinamnist", "1"), ("retinamnist", "3"), ("retinamnist", "0")]
    assert answer_text(_spec("compare_grade", [], ["retinamnist"]), grades) == "Frame 2"
    odd = [LIVER, NEUTROPHIL, SPLEEN]
    assert answer_text(_spec("odd_modality", [], FIVE), odd) == "Frame 2"


def test_a_question_one_frame_settles_is_caught():
    # Every frame that could be relabelled is still a chest X-ray: frame 1 alone decides.
    spec = _spec(
        "which_frame",
        [NORMAL, PNEUMONIA],
        ["pneumoniamnist"],
        attribute="modality",
        value="chest X-ray",
    )
    assert frames_deciding_alone(spec) == [1, 2]
    spec_needs_both = dict(spec, universe=FIVE)
    assert frames_deciding_alone(spec_needs_both) == []


def test_checker_rejects_a_wrong_recorded_answer(tiny_benchmark_dir):
    case = next(
        c for c in load_benchmark(tiny_benchmark_dir, "public").cases if c.task == "reasoning"
    )
    check_needs_several_frames(case)
    wrong = next(letter for letter in case.options if letter != case.answer)
    with pytest.raises(ValueError, match="recorded frame labels give"):
        check_needs_several_frames(replace(case, answer=wrong, target=wrong))
    spec = json.loads(case.question_spec)
    spec["universe"] = []
    with pytest.raises(ValueError, match="alone determine the answer"):
        check_needs_several_frames(replace(case, question_spec=json.dumps(spec)))
