"""MEND: the networks start as the identity, each edit is a low-rank change of the listed
down-projections only (rank at most the number of positions with a gradient), applied in place
and in turn (lifelong), the trained networks are stored with a card and reused, training reads
only the cases it is given, and the same code runs on every supported family."""

from __future__ import annotations

import pytest
import torch

from evaluator.editors.mend import MendNetwork
from evaluator.editors.probes import edit_probe
from evaluator.editors.trained import TrainingDataError
from evaluator.editors.training import only_trainable
from tests.test_editors_common import (  # noqa: F401 (autouse fixtures)
    FAST,
    TOY_TRAIN,
    ToyAdapter,
    learned_editor_home,
    make_case,
    make_editor_from,
    module_tree,
    single_thread_torch,
    state_hashes,
    trained_editors_in_tmp,
    wrong_target,
)


def mend(adapter, train=TOY_TRAIN, **overrides):
    return make_editor_from("mend", adapter, train, {**FAST["mend"], **overrides})


def test_network_is_the_identity_before_training():
    net = MendNetwork(6, 4, rank=8, modes=2)
    u, delta = torch.randn(5, 6), torch.randn(5, 4)
    u_out, delta_out = net(u, delta, mode=1)
    assert torch.equal(u_out, u) and torch.equal(delta_out, delta)


def test_an_edit_is_a_low_rank_change_of_the_listed_layers_only():
    adapter = ToyAdapter()
    editor = mend(adapter)
    before = {n: t.clone() for n, t in adapter.model.state_dict().items()}
    case = wrong_target(adapter, make_case(0))
    positions = gradient_positions(editor, case.edit())
    sequence = adapter.encode([edit_probe(case.edit())])["input_ids"].shape[1]
    assert 0 < max(positions.values()) < sequence  # the bound below is tighter than the length
    predicted = predicted_change(editor, case.edit())
    editor.apply(case.edit())
    touched = editor.touched_modules()
    assert touched == [f"model.language_model.layers.{i}.mlp.down_proj" for i in (1, 2, 3)]
    for name, tensor in adapter.model.state_dict().items():
        change = tensor - before[name]
        if name.removesuffix(".weight") in touched:
            module = name.removesuffix(".weight")
            # the written change is the predicted one (up to float32 rounding of the weight),
            # whose rank is at most the number of positions with a gradient
            assert torch.allclose(change, -predicted[module], atol=1e-6)
            assert 0 < torch.linalg.matrix_rank(predicted[module]) <= positions[module]
        else:
            assert torch.count_nonzero(change) == 0, name


def gradient_positions(editor, edit) -> dict[str, int]:
    """Per edited layer, how many positions carry a gradient of the edit loss."""
    slots = editor._install()
    try:
        with only_trainable(editor.adapter.model, []):
            factors = editor._factors(slots, edit_probe(edit))
    finally:
        editor._uninstall()
    return {n: u.shape[0] for n, (u, _) in zip(editor.names, factors, strict=True)}


def predicted_change(editor, edit) -> dict[str, torch.Tensor]:
    """alpha * d~^T u~ per edited layer for `edit` on the model as it is now."""
    slots = editor._install()
    try:
        with only_trainable(editor.adapter.model, []):
            factors = editor._factors(slots, edit_probe(edit))
        with torch.no_grad():
            updates = editor._pseudo(factors)
    finally:
        editor._uninstall()
    return {n: a * (d.T @ u) for n, (u, d, a) in zip(editor.names, updates, strict=True)}


def test_lifelong_applies_each_update_to_the_already_edited_weights():
    adapter = ToyAdapter()
    editor = mend(adapter)
    first, second = (wrong_target(adapter, make_case(i)) for i in (0, 1))
    on_unedited = predicted_change(editor, second.edit())
    editor.apply(first.edit())
    after_first = {n: adapter.get_module(n).weight.detach().clone() for n in editor.names}
    on_edited = predicted_change(editor, second.edit())
    editor.apply(second.edit())
    for name in editor.names:
        weight = adapter.get_module(name).weight.detach()
        assert torch.allclose(weight, after_first[name] - on_edited[name], atol=1e-6)
    assert any(not torch.allclose(on_edited[n], on_unedited[n]) for n in editor.names)


def test_trained_networks_are_stored_and_reused_across_runs_with_any_seed(monkeypatch):
    adapter = ToyAdapter()
    first = mend(adapter)
    card = first.card
    assert card["editor"] == "mend" and card["training_steps"] == FAST["mend"]["train_steps"]
    assert card["training"]["train_seed"] == 0 and first.setup_seconds > 0
    monkeypatch.setattr(type(first), "train", lambda self, progress: pytest.fail("retrained"))
    from evaluator.editors.registry import get_editor, parse_editor_config

    config = parse_editor_config("mend", FAST["mend"])
    again = get_editor("mend")(ToyAdapter(), config, train_cases=TOY_TRAIN, seed=7)
    assert again.trained_folder() == first.trained_folder()
    assert torch.equal(again.alphas, first.alphas)


def test_another_train_split_or_model_gets_its_own_trained_editor():
    adapter = ToyAdapter()
    folder = mend(adapter).trained_folder()
    assert mend(adapter, train=TOY_TRAIN[:10]).trained_folder() != folder
    assert mend(ToyAdapter(seed=1)).trained_folder() != folder
    assert mend(adapter, train_steps=3).trained_folder() != folder


def test_training_needs_train_cases_and_records_how_many_it_read():
    with pytest.raises(TrainingDataError, match="train split"):
        mend(ToyAdapter(), train=())
    editor = mend(ToyAdapter(), train=TOY_TRAIN[:4], train_steps=3)
    assert editor.card["train_cases"] == 4


FAMILIES = ["llava-onevision", "qwen2-vl", "qwen2.5-vl", "llava", "idefics3"]


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_trains_edits_and_restores(family, tiny_family_dirs, tiny_benchmark_dir):
    from evaluator.benchmark.loader import load_benchmark
    from evaluator.models.loading import load_vlm

    adapter = load_vlm(str(tiny_family_dirs[family]), device="cpu")
    train = load_benchmark(str(tiny_benchmark_dir), "train").cases
    case = next(c for c in load_benchmark(str(tiny_benchmark_dir), "public").cases)
    hashes, tree = state_hashes(adapter.model), module_tree(adapter.model)
    # the default (the last 3 layers) needs 3 decoder layers; these tiny families have 2
    config = {"train_steps": 2, "rank": 16, "layers": [-2, -1]}
    editor = make_editor_from("mend", adapter, train, config)
    snapshot = {n: adapter.get_module(n).weight.detach().clone() for n in editor.touched_modules()}
    editor.apply(case.edit())
    assert any(not torch.equal(adapter.get_module(n).weight, w) for n, w in snapshot.items())
    editor.reset()
    for name, weight in snapshot.items():
        adapter.get_module(name).weight.data.copy_(weight)
    assert module_tree(adapter.model) == tree and state_hashes(adapter.model) == hashes
