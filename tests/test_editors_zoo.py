"""Every editor on the real tiny zoo models of both architectures, with the same code: the edit
becomes the argmax and reset restores the model exactly. (The fixture zoo models are trained
for a few steps only, so their activations barely depend on the prompt; locality is checked on
the toy model and measured on the built zoo model, see docs/editors.md.)"""

from __future__ import annotations

import pytest

from evaluator.benchmark.loader import load_benchmark
from evaluator.models.loading import load_vlm
from evaluator.models.probe import Probe
from tests.test_editors_common import (  # noqa: F401 (single_thread_torch is autouse)
    make_editor_from,
    module_tree,
    single_thread_torch,
    state_hashes,
)

ZOO = ["tiny_llava_onevision_dir", "tiny_qwen2_vl_dir"]
FAST = {
    "ft": {"steps": 30, "lr": 0.05, "norm_constraint": 0.5},
    "lora": {"steps": 30, "lr": 0.02},
    "grace": {"n_iter": 30},
    "wise": {"edit_lr": 5.0},
}


@pytest.fixture(scope="module", params=ZOO)
def zoo(request, tiny_benchmark_dir):
    adapter = load_vlm(str(request.getfixturevalue(request.param)), device="cpu")
    public = load_benchmark(str(tiny_benchmark_dir), "public").cases
    train = load_benchmark(str(tiny_benchmark_dir), "train").cases
    return adapter, public, train


def edit_probe(case, target: str) -> Probe:
    return Probe(case.images, case.question, target, case.options)


def wrong_case(adapter, cases):
    """The first case with a one-image prompt and a letter the unedited model does not answer."""
    for case in cases:
        for letter in case.options:
            if not adapter.score([edit_probe(case, letter)])[0].exact_match:
                return case, letter
    raise AssertionError("the zoo model answers every option of every case")


@pytest.mark.parametrize("name", ["ft", "lora", "grace", "wise"])
def test_edit_hits_its_target_and_reset_restores_the_zoo_model(zoo, name):
    adapter, public, train = zoo
    hashes, tree = state_hashes(adapter.model), module_tree(adapter.model)
    case, target = wrong_case(adapter, public)
    editor = make_editor_from(name, adapter, train, FAST[name])
    snapshot = {
        n: {k: v.clone() for k, v in adapter.get_module(n).state_dict().items()}
        for n in editor.touched_modules()
    }
    editor.apply(type(case)(**{**case.__dict__, "target": target}).edit())
    edited = adapter.score([editor.transform_probe(edit_probe(case, target))])[0]
    editor.reset()
    for n, state in snapshot.items():
        adapter.get_module(n).load_state_dict(state)
    assert edited.exact_match
    assert module_tree(adapter.model) == tree
    assert state_hashes(adapter.model) == hashes
