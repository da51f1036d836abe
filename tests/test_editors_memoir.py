"""MEMOIR: zero-initialised residual memory, sparse TopHash masks, writes confined to an edit's
mask, mask-overlap routing with a threshold (inputs that match no edit are left exactly as they
were), and the same code on both zoo architectures."""

from __future__ import annotations

import pytest
import torch

from evaluator.editors.memoir import PAPER_TOP_K_RATIO, MEMOIRConfig, ResidualMemory
from evaluator.models.probe import Probe
from tests.test_editors_common import (  # noqa: F401 (single_thread_torch is autouse)
    ToyAdapter,
    case_probe,
    edited_score,
    make_case,
    make_editor_from,
    module_tree,
    single_thread_torch,
    state_hashes,
    wrong_target,
)

TOY = {"n_iter": 30, "edit_lr": 20.0}


def logits(adapter, probe: Probe) -> torch.Tensor:
    logits_, _ = adapter._answer_logits([probe])
    return logits_.detach()


def test_defaults_are_the_papers():
    config = MEMOIRConfig()
    assert config.n_iter == 30 and config.edit_lr == 1.0 and config.threshold == 0.4
    assert config.top_k_ratio == pytest.approx(PAPER_TOP_K_RATIO, abs=1e-4)  # 4096 of 14336


def test_installed_memory_starts_at_zero_and_changes_no_output():
    adapter = ToyAdapter()
    probe = case_probe(make_case(3))
    before = logits(adapter, probe)
    editor = make_editor_from("memoir", adapter, [], TOY)
    editor.memory = editor._new_memory()
    name = editor.module_name
    adapter.set_module(name, editor.memory)
    editor.memory.bank = torch.ones(1, editor.memory.memory.shape[1])  # every row routed
    editor.memory.threshold = 0.0
    assert torch.count_nonzero(editor.memory.memory) == 0
    assert torch.equal(logits(adapter, probe), before)
    editor.reset()


def test_each_edit_writes_only_the_k_columns_of_its_mask():
    adapter = ToyAdapter()
    editor = make_editor_from("memoir", adapter, [make_case(50)], TOY)
    width = adapter.get_module(editor.module_name).weight.shape[1]
    assert editor.k == round(PAPER_TOP_K_RATIO * width)
    written = torch.zeros(width, dtype=torch.bool)
    for i in range(3):
        before = None if editor.memory is None else editor.memory.memory.detach().clone()
        editor.apply(wrong_target(adapter, make_case(i)).edit())
        memory = editor.memory
        assert memory is not None and memory.bank is not None and len(memory.bank) == i + 1
        mask = memory.bank[-1].bool()
        assert int(mask.sum()) == editor.k
        delta = memory.memory.detach() - (0 if before is None else before)
        changed = delta.abs().sum(dim=0) > 0
        assert changed.any() and not (changed & ~mask).any()
        written |= changed
    assert not (memory.memory.detach()[:, ~written] != 0).any()
    editor.reset()


def test_inputs_below_the_threshold_are_unchanged_and_the_edit_is_routed():
    adapter = ToyAdapter()
    editor = make_editor_from("memoir", adapter, [make_case(50)], TOY)
    case = wrong_target(adapter, make_case(0))
    unrelated = Probe((), "who wrote the novel number 7", "tolstoy")
    before = logits(adapter, unrelated)
    editor.apply(case.edit())
    assert edited_score(editor, case_probe(case)).exact_match
    assert float(editor.memory.last_overlap[0]) == 1.0
    after = logits(adapter, unrelated)
    overlap = float(editor.memory.last_overlap[0])
    assert overlap < editor.config.threshold
    assert torch.equal(after, before)
    editor.reset()


def test_threshold_zero_routes_every_input_and_one_routes_only_exact_masks():
    adapter = ToyAdapter()
    unrelated = Probe((), "who wrote the novel number 7", "tolstoy")
    before = logits(adapter, unrelated)
    for threshold, same in ((0.0, False), (1.0, True)):
        editor = make_editor_from(
            "memoir", adapter, [make_case(50)], TOY | {"threshold": threshold}
        )
        editor.apply(wrong_target(adapter, make_case(0)).edit())
        assert torch.equal(logits(adapter, unrelated), before) is same
        editor.reset()


def test_read_mask_query_reads_under_the_rows_own_mask():
    memory_rows = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    query = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    wrapper = ResidualMemory.__new__(ResidualMemory)
    torch.nn.Module.__init__(wrapper)
    wrapper.bank, wrapper.k, wrapper.threshold = memory_rows, 2, 0.5
    wrapper.read_matched = True
    matched = wrapper.route(query)
    assert torch.equal(matched, torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]))
    wrapper.read_matched = False
    own = wrapper.route(query)
    assert torch.equal(own, torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]]))
    wrapper.threshold = 0.6
    assert wrapper.route(query) is None


def test_background_is_the_mean_over_train_locality_prompts_and_counts_as_setup():
    adapter = ToyAdapter()
    with_train = make_editor_from("memoir", adapter, [make_case(50), make_case(51)], TOY)
    without = make_editor_from("memoir", adapter, [], TOY)
    assert not torch.equal(with_train.background, without.background)
    assert with_train.setup_seconds > 0
    assert module_tree(adapter.model) == module_tree(ToyAdapter().model)


ZOO = ["tiny_llava_onevision_dir", "tiny_qwen2_vl_dir"]


@pytest.mark.parametrize("fixture", ZOO)
def test_zoo_architectures_edit_and_restore_exactly(fixture, request, tiny_benchmark_dir):
    from evaluator.benchmark.loader import load_benchmark
    from evaluator.models.loading import load_vlm

    adapter = load_vlm(str(request.getfixturevalue(fixture)), device="cpu")
    train = load_benchmark(str(tiny_benchmark_dir), "train").cases
    public = load_benchmark(str(tiny_benchmark_dir), "public").cases
    hashes, tree = state_hashes(adapter.model), module_tree(adapter.model)
    editor = make_editor_from("memoir", adapter, train[:5], {"edit_lr": 20.0})
    for case in public[:2]:
        editor.apply(case.edit())
    assert editor.memory is not None and len(editor.memory.bank) == 2
    assert torch.count_nonzero(editor.memory.memory) > 0
    editor.reset()
    assert module_tree(adapter.model) == tree and state_hashes(adapter.model) == hashes
