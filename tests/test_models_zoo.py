"""Zoo models: built from configs, trained a few steps on the tiny benchmark, saved and loaded
back the way any submission is; deterministic for a seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from transformers import AutoModelForImageTextToText, AutoProcessor

from evaluator.benchmark import load_benchmark
from evaluator.models import Probe, load_vlm
from evaluator.models.cli import build_parser, main
from evaluator.models.zoo import (
    build_zoo_model,
    frame_probes,
    lookup_probe,
    new_model,
    training_probes,
    weights_sha256,
)

ZOO = {
    "llava-onevision": ("tiny_llava_onevision_dir", "LlavaOnevisionForConditionalGeneration"),
    "qwen2-vl": ("tiny_qwen2_vl_dir", "Qwen2VLForConditionalGeneration"),
}


def card_metadata(folder: Path) -> dict:
    text = (folder / "README.md").read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


@pytest.mark.parametrize("arch", sorted(ZOO))
def test_a_zoo_model_loads_with_load_vlm_and_the_plain_auto_class(
    request, arch, tiny_benchmark_dir
):
    fixture, class_name = ZOO[arch]
    folder: Path = request.getfixturevalue(fixture)
    plain = AutoModelForImageTextToText.from_pretrained(folder)
    assert type(plain).__name__ == class_name
    assert AutoProcessor.from_pretrained(folder).chat_template
    adapter = load_vlm(str(folder))
    case = load_benchmark(str(tiny_benchmark_dir), "public").cases[0]
    probes = [
        Probe(case.images, case.question, case.answer, case.options),
        Probe((), case.loc_question, case.loc_answer),
    ]
    scores = adapter.score(probes)
    assert len(scores[0].answer_ids) == 1  # an option letter is one token
    assert len(scores[1].answer_ids) >= 1
    assert weights_sha256(adapter.model) == card_metadata(folder)["weights_sha256"]


@pytest.mark.parametrize("arch", sorted(ZOO))
def test_the_model_card_reports_size_training_and_accuracy_per_tier(request, arch):
    folder: Path = request.getfixturevalue(ZOO[arch][0])
    meta = card_metadata(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder)
    assert meta["num_parameters"] == sum(p.numel() for p in model.parameters())
    assert meta["training_steps"] == 2
    assert meta["pipeline_tag"] == "image-text-to-text"
    for key in ("overall/all", "understanding/all", "reasoning/all"):
        assert 0.0 <= meta["public_accuracy"][key] <= 1.0
        assert 0.0 < meta["public_chance"][key] < 1.0
    assert "| understanding/all |" in (folder / "README.md").read_text()


def test_training_teaches_what_each_frame_of_a_multi_image_case_shows(tiny_benchmark_dir):
    cases = load_benchmark(str(tiny_benchmark_dir), "train").cases
    several = next(c for c in cases if len(c.images) > 1)
    frames = json.loads(several.question_spec)["frames"]
    probes = frame_probes(several)
    assert [p.question for p in probes] == [
        f"What does frame {k} show?" for k in range(1, len(several.images) + 1)
    ]
    assert [p.answer for p in probes] == [
        f"{f['flag'].removesuffix('mnist')} {f['label']}" for f in frames
    ]
    assert all(p.images == several.images and p.options is None for p in probes)
    assert frame_probes(next(c for c in cases if len(c.images) == 1)) == []
    questions = {p.question for p in training_probes(cases) if len(p.images) > 1}
    assert "What does frame 2 show?" in questions


def test_a_build_is_deterministic_for_a_seed(tiny_benchmark_dir, tmp_path):
    first = build_zoo_model(
        "qwen2-vl", tiny_benchmark_dir, tmp_path / "a", max_steps=1, progress=False
    )
    argv = ["build", "--arch", "qwen2-vl", "--benchmark", str(tiny_benchmark_dir)]
    argv += ["--out", str(tmp_path / "b"), "--max-steps", "1", "--no-progress"]
    assert main(build_parser("model").parse_args(argv)) == 0
    other_seed = build_zoo_model(
        "qwen2-vl", tiny_benchmark_dir, tmp_path / "c", seed=1, max_steps=1, progress=False
    )
    assert card_metadata(first)["weights_sha256"] == card_metadata(tmp_path / "b")["weights_sha256"]
    assert card_metadata(first)["weights_sha256"] != card_metadata(other_seed)["weights_sha256"]


def test_the_cli_explains_a_missing_benchmark(tmp_path, capsys):
    argv = ["build", "--arch", "llava-onevision", "--benchmark", str(tmp_path / "none")]
    assert main(build_parser("model").parse_args([*argv, "--out", str(tmp_path / "m")])) == 1
    assert "benchmark build" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_new_model_takes_size_overrides_and_lookup_probes_ask_for_the_correct_letter(
    tiny_benchmark_dir,
):
    cases = load_benchmark(str(tiny_benchmark_dir), "train").cases
    adapter = new_model("llava-onevision", cases, layers=2, hidden=64)
    assert adapter.model.config.text_config.num_hidden_layers == 2
    assert adapter.model.config.text_config.hidden_size == 64
    probe = lookup_probe(cases[0])
    assert probe.images == () and probe.options == cases[0].options
    assert probe.answer == cases[0].answer
    assert probe.question.endswith(f"{cases[0].options[cases[0].answer]}?")
