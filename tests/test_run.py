"""run_evaluation as the worker and the CLI call it: bad requests fail before any work and
change nothing; progress is reported; the CLIs work end to end."""

import json

import pytest

from evaluator.__main__ import main as evaluator_main
from evaluator.editors.base import ConfigError
from evaluator.result import validate_result
from evaluator.run import RunSpec, run_evaluation
from evaluator.snapshot import ModelChangedError, model_hash
from tests.fake_vlm import FakeAdapter, fake_split

# every test here runs with the planted editors registered, for that test only
pytestmark = pytest.mark.usefixtures("planted_editors")


def spec(editor="planted-finetune", config=None, **overrides):
    fields = {
        "model": "fake/tiny-vlm",
        "revision": None,
        "editor": editor,
        "config": config,
        "benchmark": "unused",
        "split": "public",
        "setting": "single",
    }
    return RunSpec(**{**fields, **overrides})


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"learning_rate": 0.1}, "unknown field"),
        ({"steps": "ten"}, "expected an integer"),
        ({"steps": 0}, "steps"),
        ({"layer": 4}, "beyond the model's 4 decoder layers"),
        ({"layer": -5}, "beyond the model's 4 decoder layers"),
        ("steps: [1", "not valid YAML"),
    ],
)
def test_a_bad_config_raises_before_any_work_and_leaves_the_model_unchanged(config, message):
    adapter = FakeAdapter()
    before = model_hash(adapter.model)
    with pytest.raises(ConfigError, match=message):
        run_evaluation(spec(config=config), adapter=adapter, split_data=fake_split(3))
    assert adapter.score_calls == []
    assert model_hash(adapter.model) == before


def test_an_unknown_editor_names_the_known_ones():
    with pytest.raises(ConfigError, match="planted-noop"):
        run_evaluation(spec(editor="rome"), adapter=FakeAdapter(), split_data=fake_split(2))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"setting": "both"}, "setting"),
        ({"split": "train"}, "split 'train' cannot be evaluated"),
        ({"limit": 0}, "limit"),
        ({"seed": -1}, "seed"),
    ],
)
def test_a_bad_run_spec_raises_before_any_work(overrides, message):
    adapter = FakeAdapter()
    with pytest.raises(ValueError, match=message):
        run_evaluation(spec(**overrides), adapter=adapter, split_data=fake_split(2))
    assert adapter.score_calls == []


def test_a_config_given_as_yaml_text_is_parsed_and_recorded_with_its_defaults():
    result = run_evaluation(
        spec(config="steps: 2\nlayer: 1\n"), adapter=FakeAdapter(), split_data=fake_split(2)
    )
    assert result["editor"]["config"] == {"layer": 1, "steps": 2, "lr": 0.05}
    assert len(result["editor"]["config_hash"]) == 64


@pytest.mark.parametrize("setting", ["single", "lifelong"])
def test_limit_takes_the_first_cases_and_progress_follows_the_edits(setting):
    calls = []
    result = run_evaluation(
        spec(editor="planted-noop", setting=setting, limit=3),
        progress=lambda done, total: calls.append((done, total)),
        adapter=FakeAdapter(),
        split_data=fake_split(5),
    )
    assert result["benchmark"]["cases"] == 3
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_editors_cli_lists_each_editor_with_fields_defaults_and_help(capsys):
    assert evaluator_main(["editors", "planted-perturb", "planted-finetune"]) == 0
    out = capsys.readouterr().out
    assert "planted-perturb" in out
    assert "scale: float = 5.0" in out
    assert "noise size relative to the weight norm" in out
    assert "steps: int = 30" in out


def test_editors_cli_shows_the_allowed_values_of_a_choice_field(capsys):
    assert evaluator_main(["editors", "planted-leftover"]) == 0
    assert "leftover: 'wrapper' | 'hook' = 'wrapper'" in capsys.readouterr().out


def test_editors_cli_json_matches_the_config_dataclass(capsys):
    assert evaluator_main(["editors", "--json", "planted-leak"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described == {
        "planted-leak": [
            {
                "name": "via_data",
                "type": "bool",
                "default": False,
                "help": "write through .data (no version bump) instead of add_",
            }
        ]
    }


def test_editors_cli_rejects_an_unknown_editor(capsys):
    assert evaluator_main(["editors", "rome"]) == 2
    assert "unknown editor 'rome'" in capsys.readouterr().err


# On the real tiny zoo model (tests/fixtures: tiny_llava_onevision_dir, tiny_benchmark_dir).


def zoo_spec(model_dir, benchmark_dir, editor, setting="single", config=None, limit=2, seed=0):
    return RunSpec(
        model=str(model_dir),
        revision=None,
        editor=editor,
        config=config,
        benchmark=str(benchmark_dir),
        split="public",
        setting=setting,
        limit=limit,
        seed=seed,
    )


@pytest.fixture
def zoo(tiny_zoo_adapter, tiny_public_split, tiny_llava_onevision_dir, tiny_benchmark_dir):
    """Run a spec on the shared zoo adapter; the adapter's model must come back unchanged."""
    before = model_hash(tiny_zoo_adapter.model)

    def run(editor, setting="single", config=None, **kwargs):
        spec = zoo_spec(
            tiny_llava_onevision_dir, tiny_benchmark_dir, editor, setting, config, **kwargs
        )
        return run_evaluation(spec, adapter=tiny_zoo_adapter, split_data=tiny_public_split)

    yield run
    assert model_hash(tiny_zoo_adapter.model) == before


@pytest.mark.parametrize("setting", ["single", "lifelong"])
def test_zoo_model_noop_editor_keeps_locality_1_and_pre_edit_reliability(zoo, setting):
    result = zoo("planted-noop", setting)
    overall = result["metrics"]["overall"]
    assert overall["locality"]["mean"] == 1.0
    assert overall["reliability"] == result["pre_edit"]["overall"]["reliability"]


def test_zoo_model_damaged_unrelated_layer_loses_locality(zoo):
    result = zoo("planted-perturb", config={"layer": 0, "scale": 20.0})
    assert result["metrics"]["overall"]["locality"]["mean"] < 1.0


def test_zoo_model_real_editor_run_restores_every_tensor_and_repeats_exactly(zoo):
    first = zoo("ft", config={"steps": 2}, limit=1)
    again = zoo("ft", config={"steps": 2}, limit=1)
    assert first["metrics"] == again["metrics"]
    assert first["token_metrics"] == again["token_metrics"]


def test_zoo_model_leaking_editor_is_refused(
    tiny_llava_onevision_dir, tiny_benchmark_dir, tiny_public_split
):
    from evaluator.models import load_vlm

    adapter = load_vlm(str(tiny_llava_onevision_dir), device="cpu")  # its own: a leak sticks
    spec = zoo_spec(
        tiny_llava_onevision_dir, tiny_benchmark_dir, "planted-leak", config={"via_data": True}
    )
    with pytest.raises(ModelChangedError, match=r"mlp\.up_proj\.weight"):
        run_evaluation(spec, adapter=adapter, split_data=tiny_public_split)


def test_zoo_model_layer_beyond_depth_is_refused_before_any_work(zoo, tiny_zoo_adapter):
    depth = tiny_zoo_adapter.num_layers
    with pytest.raises(ConfigError, match=str(depth)):
        zoo("ft", config={"layer": depth + 3})


def test_tiny_results_are_valid_for_every_editor_and_setting(tiny_results, tiny_result_files):
    assert {setting for _, setting in tiny_results} == {"single", "lifelong"}
    for path in tiny_result_files:
        validate_result(json.loads(path.read_text()))


def test_cli_run_end_to_end_on_the_zoo_model(
    tmp_path, tiny_llava_onevision_dir, tiny_benchmark_dir, capsys
):
    config = tmp_path / "ft.yaml"
    config.write_text("steps: 3\nlayer: -1\n")
    out = tmp_path / "result.json"
    argv = [
        "run",
        "--model", str(tiny_llava_onevision_dir),
        "--editor", "ft",
        "--config", str(config),
        "--benchmark", str(tiny_benchmark_dir),
        "--split", "public",
        "--setting", "lifelong",
        "--limit", "2",
        "--out", str(out),
    ]  # fmt: skip
    assert evaluator_main(argv) == 0
    result = json.loads(out.read_text())
    validate_result(result)
    assert result["editor"]["config"]["steps"] == 3
    assert [p["edits"] for p in result["lifelong_curve"]] == [1, 2]
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["out"] == str(out)


def test_cli_run_reports_a_bad_config_without_writing(
    tmp_path, tiny_llava_onevision_dir, tiny_benchmark_dir, capsys
):
    config = tmp_path / "ft.yaml"
    config.write_text("stepz: 3\n")
    out = tmp_path / "result.json"
    argv = [
        "run",
        "--model", str(tiny_llava_onevision_dir),
        "--editor", "ft",
        "--config", str(config),
        "--benchmark", str(tiny_benchmark_dir),
        "--split", "public",
        "--setting", "single",
        "--out", str(out),
    ]  # fmt: skip
    assert evaluator_main(argv) == 2
    assert "stepz" in capsys.readouterr().err
    assert not out.exists()
