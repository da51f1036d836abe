"""The single and lifelong protocols on a tiny fake model: the known faults of the paper's
evaluation (locality against an already-edited model, no restore between edits) must fail here."""

import pytest

from contract.names import TIERS
from evaluator.protocols import clear_reference_cache, lifelong_checkpoints
from evaluator.run import RunSpec, evaluate, run_evaluation
from evaluator.snapshot import ModelChangedError, model_hash
from tests.fake_vlm import FakeAdapter, fake_split

# every test here runs with the planted editors registered, for that test only
pytestmark = pytest.mark.usefixtures("planted_editors")


def spec(editor, setting="single", config=None, seed=0, limit=None):
    return RunSpec(
        model="fake/tiny-vlm",
        revision=None,
        editor=editor,
        config=config or {},
        benchmark="unused",
        split="public",
        setting=setting,
        limit=limit,
        seed=seed,
    )


def run(editor, setting="single", adapter=None, split=None, **kwargs):
    adapter = adapter or FakeAdapter()
    split = split or fake_split(6)
    return run_evaluation(spec(editor, setting, **kwargs), adapter=adapter, split_data=split)


@pytest.mark.parametrize("setting", ["single", "lifelong"])
def test_a_noop_editor_keeps_locality_exactly_1_and_reliability_at_its_pre_edit_value(setting):
    result = run("planted-noop", setting)
    for tier in TIERS:
        metrics, pre = result["metrics"][tier], result["pre_edit"][tier]
        assert metrics["locality_text"]["mean"] == 1.0
        assert metrics["locality_image"]["mean"] == 1.0
        assert metrics["reliability"] == pre["reliability"]
        assert metrics["generality"] == pre["generality"]


@pytest.mark.parametrize("setting", ["single", "lifelong"])
def test_an_editor_that_damages_an_unrelated_layer_loses_locality(setting):
    result = run("planted-perturb", setting, config={"layer": 1})
    assert result["metrics"]["overall"]["locality"]["mean"] < 1.0
    assert result["token_metrics"]["overall"]["locality"]["mean"] < 1.0


@pytest.mark.parametrize("setting", ["single", "lifelong"])
def test_after_a_run_every_parameter_and_buffer_is_bit_for_bit_the_original(setting):
    adapter = FakeAdapter()
    before = model_hash(adapter.model)
    result = run("planted-finetune", setting, adapter=adapter, config={"steps": 10})
    overall = result["metrics"]["overall"]
    changed = (
        overall["reliability"]["mean"] > result["pre_edit"]["overall"]["reliability"]["mean"]
        or overall["locality"]["mean"] < 1.0
    )
    assert changed, "the editor must have changed the model during the run"
    assert model_hash(adapter.model) == before


def test_single_editing_restores_the_model_between_cases():
    """Were the model not restored, each edit would see the previous edits' damage."""
    split = fake_split(6)
    alone = [  # case i alone with seed i gets the same noise as case i of the full run
        run("planted-perturb", seed=i, split=split.__class__(**{**split.__dict__, "cases": (c,)}))
        for i, c in enumerate(split.cases)
    ]
    together = run("planted-perturb", split=split)
    per_case = [r["metrics"]["overall"]["locality"]["mean"] for r in alone]
    assert together["metrics"]["overall"]["locality"]["mean"] == pytest.approx(
        sum(per_case) / len(per_case)
    )


def test_edits_accumulate_in_lifelong_editing():
    single = run("planted-perturb", "single")
    lifelong = run("planted-perturb", "lifelong")
    assert (
        lifelong["metrics"]["overall"]["locality"]["mean"]
        < single["metrics"]["overall"]["locality"]["mean"]
    )


@pytest.mark.parametrize("via_data", [False, True])
def test_an_editor_that_writes_outside_its_touched_modules_is_refused(via_data):
    adapter = FakeAdapter()
    with pytest.raises(ModelChangedError, match=r"layers\.3\.mlp\.up\.weight"):
        run("planted-leak", adapter=adapter, config={"via_data": via_data})


@pytest.mark.parametrize("leftover", ["wrapper", "hook"])
def test_a_wrapper_or_hook_left_after_reset_is_refused_by_name(leftover):
    with pytest.raises(ModelChangedError, match=r"layers\.3\.mlp\.down"):
        run("planted-leftover", config={"leftover": leftover})


def test_scoring_runs_in_eval_mode_even_if_the_editor_leaves_train_mode_on():
    adapter = FakeAdapter()
    run("planted-noop", adapter=adapter, config={"leave_train_mode": True})
    assert adapter.score_modes and not any(adapter.score_modes)


@pytest.mark.parametrize("setting", ["single", "lifelong"])
def test_requires_grad_flags_changed_by_an_editor_are_put_back(setting):
    adapter = FakeAdapter()
    adapter.model.vision.requires_grad_(False)
    run("planted-noop", setting, adapter=adapter, config={"freeze_all": True})
    assert not adapter.model.vision.weight.requires_grad
    assert all(p.requires_grad for n, p in adapter.model.named_parameters() if "vision" not in n)


def test_each_case_is_scored_in_one_batched_pass_not_one_per_probe():
    adapter = FakeAdapter()
    clear_reference_cache()
    result = run("planted-noop", adapter=adapter, split=fake_split(4))
    edits = result["benchmark"]["cases"]
    # the untouched pass over the whole split, then the edited pass over the edit set
    assert adapter.score_calls == [6] * 4 + [6] * edits


def test_the_untouched_reference_is_computed_once_and_reused_for_the_same_model_and_split():
    adapter = FakeAdapter(revision="cache-test")
    clear_reference_cache()
    first = evaluate(spec("planted-noop"), adapter=adapter, split_data=fake_split(3))
    second = evaluate(spec("planted-noop", "lifelong"), adapter=adapter, split_data=fake_split(3))
    assert first.stats.references_cached == 0
    assert second.stats.references_cached == 3


def test_the_reference_is_recomputed_when_the_weights_differ_under_the_same_revision():
    clear_reference_cache()
    evaluate(spec("planted-noop"), adapter=FakeAdapter(seed=0), split_data=fake_split(3))
    other = evaluate(spec("planted-noop"), adapter=FakeAdapter(seed=1), split_data=fake_split(3))
    assert other.stats.references_cached == 0


def test_the_same_seed_gives_identical_metrics():
    def metrics(seed):
        result = run("planted-finetune", config={"steps": 5}, seed=seed)
        return {k: result[k] for k in ("metrics", "token_metrics", "pre_edit", "lifelong_curve")}

    assert metrics(3) == metrics(3)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, (1,)),
        (7, (1, 7)),
        (10, (1, 10)),
        (200, (1, 10, 50, 100, 200)),
        (1500, (1, 10, 50, 100, 250, 500, 1000, 1500)),
    ],
)
def test_lifelong_checkpoints(n, expected):
    assert lifelong_checkpoints(n) == expected


def test_the_lifelong_curve_has_the_checkpoints_and_ends_at_the_final_metrics():
    result = run("planted-finetune", "lifelong", split=fake_split(12), config={"steps": 3})
    curve = result["lifelong_curve"]
    assert [point["edits"] for point in curve] == [1, 10, 12]
    final = result["metrics"]["overall"]
    for name in ("reliability", "generality", "locality"):
        assert curve[-1][name] == pytest.approx(final[name]["mean"])


def test_single_setting_has_no_curve_and_times_every_edit():
    result = run("planted-noop", split=fake_split(5))
    assert result["lifelong_curve"] is None
    assert result["benchmark"]["cases"] == 5
    latency = result["efficiency"]["edit_latency_s"]
    assert 0 <= latency["p50"] <= latency["p95"]
    assert result["efficiency"]["peak_memory_mb"] > 0
