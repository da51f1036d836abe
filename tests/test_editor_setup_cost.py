"""efficiency.setup_s: an editor's one-off set-up cost (statistics, training) reaches the result
record apart from the per-edit latency; editors without set-up report 0."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest

from evaluator.editors.registry import registered
from evaluator.result import validate_result
from evaluator.run import RunSpec, run_evaluation
from tests.fake_vlm import FakeAdapter, fake_split
from tests.planted_editors import NoopEditor


class SetupCostEditor(NoopEditor):
    """Changes nothing; claims a set-up of 1.5 s."""

    name = "planted-setup-cost"

    def setup(self) -> None:
        self.setup_seconds = 1.5


@pytest.fixture(autouse=True)
def setup_cost_editor(planted_editors: list[str]) -> Iterator[None]:
    """The planted editors and this one, registered for each test only."""
    with registered(SetupCostEditor):
        yield


def run(editor: str, setting: str = "single") -> dict:
    spec = RunSpec(
        model="fake/tiny-vlm",
        revision=None,
        editor=editor,
        config=None,
        benchmark="unused",
        split="public",
        setting=setting,
    )
    return run_evaluation(spec, adapter=FakeAdapter(), split_data=fake_split(4))


@pytest.mark.parametrize("setting", ["single", "lifelong"])
def test_setup_seconds_reach_the_result_apart_from_edit_latency(setting):
    result = run("planted-setup-cost", setting)
    assert result["efficiency"]["setup_s"] == 1.5
    assert result["efficiency"]["edit_latency_s"]["mean"] < 1.5


def test_an_editor_without_setup_reports_zero():
    assert run("planted-noop")["efficiency"]["setup_s"] == 0.0


@pytest.mark.parametrize("value", [-1.0, float("nan"), "slow", None])
def test_a_bad_or_missing_setup_s_is_rejected_by_name(value):
    result = copy.deepcopy(run("planted-noop"))
    if value is None:
        del result["efficiency"]["setup_s"]
    else:
        result["efficiency"]["setup_s"] = value
    with pytest.raises(ValueError, match=r"efficiency\.setup_s"):
        validate_result(result)
