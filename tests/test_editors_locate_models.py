"""MEMIT, AlphaEdit and UltraEdit on real models: both tiny zoo architectures (the edit becomes
the argmax, reset plus the snapshot restore every tensor) and every family the adapter supports
(the same code edits only the touched down-projections, never the vision tower)."""

from __future__ import annotations

import pytest
import torch

from evaluator.benchmark.loader import load_benchmark
from evaluator.models.loading import load_vlm
from evaluator.models.probe import Probe
from tests.test_editors_common import (  # noqa: F401 (single_thread_torch is autouse)
    make_case,
    make_editor_from,
    module_tree,
    single_thread_torch,
    state_hashes,
)

EDITORS = ["memit", "alphaedit", "ultraedit"]
ZOO = ["tiny_llava_onevision_dir", "tiny_qwen2_vl_dir"]
# a few train cases keep the statistics pass short. The fixture models are trained for two
# steps, so their logits barely move with the residual: the target shift may be larger than
# the paper's clamp allows, and UltraEdit takes a larger step than its default
SHIFT = {"stats_cases": 8, "clamp_norm_factor": 10.0, "v_lr": 1.0, "v_steps": 40}
FAST = {
    "memit": {**SHIFT, "v_weight_decay": 0.0},
    "alphaedit": {**SHIFT, "v_weight_decay": 0.0},
    "ultraedit": {"stats_cases": 8, "edit_lr": 2.0},
}


@pytest.fixture(autouse=True)
def private_home(monkeypatch, tmp_path):
    monkeypatch.setenv("MME_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module", params=ZOO)
def zoo(request, tiny_benchmark_dir):
    adapter = load_vlm(str(request.getfixturevalue(request.param)), device="cpu")
    public = load_benchmark(str(tiny_benchmark_dir), "public").cases
    train = load_benchmark(str(tiny_benchmark_dir), "train").cases
    return adapter, public, train


def wrong_case(adapter, cases):
    """The first case and a letter the unedited model does not answer."""
    for case in cases:
        for letter in case.options:
            probe = Probe(case.images, case.question, letter, case.options)
            if not adapter.score([probe])[0].exact_match:
                return type(case)(**{**case.__dict__, "target": letter})
    raise AssertionError("the zoo model answers every option of every case")


def edit_and_restore(adapter, editor, case) -> tuple[bool, list[str]]:
    """Apply one edit; whether it took and which tensors changed; then reset and restore."""
    before = state_hashes(adapter.model)
    snapshot = {
        n: {k: v.clone() for k, v in adapter.get_module(n).state_dict().items()}
        for n in editor.touched_modules()
    }
    editor.apply(case.edit())
    probe = Probe(case.images, case.question, case.target, case.options)
    took = adapter.score([editor.transform_probe(probe)])[0].exact_match
    after = state_hashes(adapter.model)
    editor.reset()
    for n, state in snapshot.items():
        adapter.get_module(n).load_state_dict(state)
    assert state_hashes(adapter.model) == before
    return took, [n for n in before if before[n] != after[n]]


@pytest.mark.parametrize("name", EDITORS)
def test_edit_hits_its_target_and_reset_restores_the_zoo_model(zoo, name):
    adapter, public, train = zoo
    tree = module_tree(adapter.model)
    editor = make_editor_from(name, adapter, train, FAST[name])
    assert editor.stats and editor.setup_seconds > 0
    took, changed = edit_and_restore(adapter, editor, wrong_case(adapter, public))
    assert took
    assert changed and all(n.startswith(tuple(editor.touched_modules())) for n in changed)
    assert module_tree(adapter.model) == tree


@pytest.mark.parametrize("name", EDITORS)
def test_every_family_is_edited_with_the_same_code_and_the_vision_tower_untouched(
    name, tiny_family_dirs
):
    train = [make_case(500 + i) for i in range(2)]
    for family, folder in tiny_family_dirs.items():
        adapter = load_vlm(str(folder), device="cpu")
        case = make_case(7, target="C")
        adapter.score([Probe(case.images, case.question, "C", case.options)])  # lazy HF hooks
        hooks = [len(m._forward_hooks) for m in adapter.model.modules()]
        editor = make_editor_from(name, adapter, train, {"stats_cases": 2})
        _, changed = edit_and_restore(adapter, editor, case)
        assert changed, family
        assert all(n.startswith(tuple(editor.touched_modules())) for n in changed), family
        vision = tuple(adapter.vision_module_prefixes())
        assert vision and not [n for n in changed if n.startswith(vision)], family
        assert [len(m._forward_hooks) for m in adapter.model.modules()] == hooks, family
        del adapter, editor
        torch.set_num_threads(1)
