"""`python -m evaluator editor train` and learned editors inside runs: training reads only the
train split, stores the editor beside a card, a second call (or a run) loads it, --force trains
again, the training cost reaches the result's efficiency block as setup_s, and the three new
editors run single and lifelong on both zoo architectures through the evaluator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluator.__main__ import main
from evaluator.editors.trained import CARD
from evaluator.run import RunSpec, run_evaluation

TINY = {
    "mend": {"train_steps": 2, "rank": 8},
    "serac": {"cf_steps": 2, "classifier_steps": 2, "classifier_cases": 4},
    "memoir": {"edit_lr": 5.0},
}


@pytest.fixture(autouse=True)
def home(monkeypatch, tmp_path):
    monkeypatch.setenv("MME_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def train_args(tmp_path, model, benchmark, editor="mend", *extra):
    config = tmp_path / f"{editor}.json"
    config.write_text(json.dumps(TINY.get(editor, {})))
    return ["editor", "train", "--editor", editor, "--model", str(model), "--benchmark",
            str(benchmark), "--config", str(config), "--no-progress", *extra]  # fmt: skip


def test_train_stores_a_card_then_loads_and_force_trains_again(
    tmp_path, home, capsys, tiny_llava_onevision_dir, tiny_benchmark_dir
):
    args = train_args(tmp_path, tiny_llava_onevision_dir, tiny_benchmark_dir)
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["trained_now"] is True and first["training_steps"] == 2
    folder = home / "editors" / "mend"
    assert str(folder) in first["folder"]
    card = json.loads((Path(first["folder"]) / CARD).read_text())
    from evaluator.benchmark import load_benchmark

    train = load_benchmark(str(tiny_benchmark_dir), "train")
    assert card["train_split_sha256"] == train.sha256 and card["train_cases"] == len(train)
    assert card["model"]["id"] == str(tiny_llava_onevision_dir) and card["model"]["revision"]
    assert card["training_seconds"] > 0 and card["training"]["train_steps"] == 2
    assert "Training: 2 steps" in (Path(first["folder"]) / "README.md").read_text()
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["trained_now"] is False
    assert main([*args, "--force"]) == 0
    assert json.loads(capsys.readouterr().out)["trained_now"] is True


def test_training_reads_the_train_split_and_nothing_else(
    tmp_path, monkeypatch, tiny_llava_onevision_dir, tiny_benchmark_dir
):
    import evaluator.benchmark as benchmark
    from evaluator.benchmark.loader import load_benchmark

    splits = []

    def recording(name, split, *args, **kwargs):
        splits.append(split)
        return load_benchmark(name, split, *args, **kwargs)

    monkeypatch.setattr(benchmark, "load_benchmark", recording)
    args = train_args(tmp_path, tiny_llava_onevision_dir, tiny_benchmark_dir, "serac")
    assert main(args) == 0
    assert splits == ["train"]


def test_an_editor_without_training_and_a_bad_config_are_refused(
    tmp_path, capsys, tiny_llava_onevision_dir, tiny_benchmark_dir
):
    args = train_args(tmp_path, tiny_llava_onevision_dir, tiny_benchmark_dir, "grace")
    assert main(args) == 2
    assert "needs no training" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"train_steps": 0}))
    args = train_args(tmp_path, tiny_llava_onevision_dir, tiny_benchmark_dir)
    args[args.index("--config") + 1] = str(bad)
    assert main(args) == 2
    assert "train_steps" in capsys.readouterr().err


@pytest.fixture(scope="module", params=["tiny_llava_onevision_dir", "tiny_qwen2_vl_dir"])
def zoo(request, tiny_benchmark_dir):
    from evaluator.benchmark import load_benchmark
    from evaluator.models import load_vlm

    model = str(request.getfixturevalue(request.param))
    return model, load_vlm(model, device="cpu"), load_benchmark(str(tiny_benchmark_dir), "public")


@pytest.mark.parametrize("editor", ["mend", "serac", "memoir"])
@pytest.mark.parametrize("setting", ["single", "lifelong"])
def test_new_editors_run_in_both_settings_and_report_setup_seconds(
    zoo, editor, setting, tiny_benchmark_dir, home
):
    model, adapter, public = zoo
    spec = RunSpec(
        model=model, revision=None, editor=editor, config=TINY[editor],
        benchmark=str(tiny_benchmark_dir), split="public", setting=setting, limit=3,
    )  # fmt: skip
    result = run_evaluation(spec, adapter=adapter, split_data=public)
    assert result["benchmark"]["cases"] == 3
    assert (result["lifelong_curve"] is None) == (setting == "single")
    setup = result["efficiency"]["setup_s"]
    if editor == "memoir":
        assert setup > 0
    else:
        cards = list((home / "editors" / editor).glob(f"*/{CARD}"))
        assert len(cards) == 1
        assert setup == pytest.approx(json.loads(cards[0].read_text())["training_seconds"])


def test_run_command_trains_a_missing_editor_first(
    tmp_path, home, tiny_qwen2_vl_dir, tiny_benchmark_dir
):
    config = tmp_path / "mend.json"
    config.write_text(json.dumps(TINY["mend"]))
    out = tmp_path / "result.json"
    args = ["run", "--model", str(tiny_qwen2_vl_dir), "--editor", "mend", "--config",
            str(config), "--benchmark", str(tiny_benchmark_dir), "--split", "public",
            "--setting", "single", "--limit", "2", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    assert list((home / "editors" / "mend").glob(f"*/{CARD}"))
    assert json.loads(out.read_text())["efficiency"]["setup_s"] > 0
