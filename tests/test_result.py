"""The result record: a real run validates against schema 2; a broken one is rejected by key."""

import copy
import json

import pytest

from evaluator.editors.registry import registered
from evaluator.result import TOP_LEVEL_KEYS, validate_result, write_result
from evaluator.run import RunSpec, run_evaluation
from tests.fake_vlm import FakeAdapter, fake_split
from tests.planted_editors import PLANTED


@pytest.fixture(scope="module", params=["single", "lifelong"])
def result(request):
    """One real run per setting; the planted editors are registered only while it runs."""
    spec = RunSpec(
        model="fake/tiny-vlm",
        revision=None,
        editor="planted-perturb",
        config={"layer": 2},
        benchmark="unused",
        split="public",
        setting=request.param,
    )
    with registered(*PLANTED):
        return run_evaluation(spec, adapter=FakeAdapter(), split_data=fake_split(4))


def test_a_real_result_has_exactly_the_schema_fields_and_validates(result):
    assert tuple(result) == TOP_LEVEL_KEYS
    validate_result(result)
    assert result["model"] == {"id": "fake/tiny-vlm", "revision": "fake-rev"}
    assert result["editor"]["config"] == {"layer": 2, "scale": 5.0}
    assert result["benchmark"]["sha256"] == fake_split(4).sha256
    assert "hostname" not in json.dumps(result["environment"]).lower()


def test_the_result_survives_a_json_round_trip(result, tmp_path):
    path = write_result(result, tmp_path / "out" / "result.json")
    loaded = json.loads(path.read_text())
    validate_result(loaded)
    assert loaded["metrics"] == result["metrics"]


def broken(result, path, value=None, delete=False):
    out = copy.deepcopy(result)
    *parents, last = path
    block = out
    for key in parents:
        block = block[key]
    if delete:
        del block[last]
    else:
        block[last] = value
    return out


@pytest.mark.parametrize(
    ("path", "value", "delete", "named"),
    [
        (("schema_version",), 1, False, "schema_version"),
        (("benchmark", "edits", "reasoning"), 10**6, False, "benchmark.edits.reasoning"),
        (("notes",), "none", False, "notes"),
        (("created_at",), None, True, "created_at"),
        (("surprise",), 1, False, "surprise"),
        (("model", "revision"), "", False, "model.revision"),
        (("editor", "config_hash"), "abc", False, "editor.config_hash"),
        (("benchmark", "cases"), 0, False, "benchmark.cases"),
        (("benchmark", "split"), "train", False, "benchmark.split"),
        (("setting",), "both", False, "setting"),
        (("metrics", "overall", "locality"), None, True, "metrics.overall.locality"),
        (("metrics", "overall", "reliability", "mean"), 1.5, False, "metrics.overall.reliability"),
        (("token_metrics", "reasoning", "generality", "ci95"), [0.9, 0.95], False, "ci95"),
        (("pre_edit", "overall", "generality", "mean"), "high", False, "pre_edit.overall"),
        (("efficiency", "wall_s"), float("nan"), False, "efficiency.wall_s"),
        (("environment", "hardware", "hostname"), "box", False, "environment.hardware"),
        (("environment", "seed"), -1, False, "environment.seed"),
    ],
)
def test_a_broken_result_is_rejected_naming_the_key(result, path, value, delete, named):
    with pytest.raises(ValueError, match=named.replace(".", r"\.")):
        validate_result(broken(result, path, value, delete))


def test_the_curve_must_match_the_setting(result):
    if result["setting"] == "single":
        bad = broken(result, ("lifelong_curve",), [{"edits": 4}])
    else:
        bad = broken(result, ("lifelong_curve",), result["lifelong_curve"][:-1])
    with pytest.raises(ValueError, match="lifelong_curve"):
        validate_result(bad)


def test_an_invalid_result_is_never_written_and_leaves_an_old_file_alone(result, tmp_path):
    path = tmp_path / "result.json"
    path.write_text("old")
    with pytest.raises(ValueError):
        write_result(broken(result, ("setting",), "both"), path)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]
