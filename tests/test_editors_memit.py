"""MEMIT: the least-squares update, its spread over the layers, batches solved jointly."""

from __future__ import annotations

import pytest
import torch

from evaluator.editors.base import ConfigError
from evaluator.editors.memit import memit_delta
from evaluator.editors.registry import parse_editor_config
from tests.test_editors_common import (
    ToyAdapter,
    case_probe,
    edited_score,
    make_case,
    make_editor,
    wrong_target,
)

TRAIN = [make_case(200 + i) for i in range(4)]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_update_solves_memits_normal_equations():
    gen = torch.Generator().manual_seed(0)
    keys, gap = torch.randn(3, 8, generator=gen), torch.randn(3, 5, generator=gen)
    preserved = torch.randn(50, 8, generator=gen)
    moment = preserved.T @ preserved / 50
    delta = memit_delta(keys, gap, moment, lam=2.0)
    lhs = delta @ (2.0 * moment.double() + keys.double().T @ keys.double())
    assert torch.allclose(lhs, gap.double().T @ keys.double(), atol=1e-9)


def test_a_heavier_preserved_moment_moves_preserved_keys_less():
    gen = torch.Generator().manual_seed(1)
    preserved = torch.randn(40, 8, generator=gen)
    moment = preserved.T @ preserved / 40
    keys, gap = torch.randn(1, 8, generator=gen), torch.randn(1, 5, generator=gen)
    light = memit_delta(keys, gap, moment, lam=0.01)
    heavy = memit_delta(keys, gap, moment, lam=10.0)
    k = preserved.double()
    assert (heavy @ k.T).norm() < 0.5 * (light @ k.T).norm()
    assert (light @ keys.double().T - gap.double().T).norm() < 0.05 * gap.norm()


def test_edits_of_one_batch_are_solved_jointly_whatever_their_order():
    weights = []
    for order in ([0, 1, 2], [2, 0, 1]):
        adapter = ToyAdapter()
        editor = make_editor("memit", adapter, train=TRAIN, batch_size=3)
        cases = [wrong_target(adapter, make_case(10 + i)) for i in range(3)]
        for i in order:
            editor.apply(cases[i].edit())
        assert all(edited_score(editor, case_probe(c)).exact_match for c in cases)
        weights.append([adapter.get_module(n).weight.detach().clone() for n in editor.down_names])
    for first, second in zip(*weights, strict=True):
        assert torch.allclose(first, second, atol=1e-5)


def test_a_full_batch_is_kept_and_the_next_edit_starts_a_new_one():
    adapter = ToyAdapter()
    editor = make_editor("memit", adapter, train=TRAIN, batch_size=2)
    cases = [wrong_target(adapter, make_case(20 + i)) for i in range(3)]
    editor.apply(cases[0].edit())
    editor.apply(cases[1].edit())
    after_batch = [adapter.get_module(n).weight.detach().clone() for n in editor.down_names]
    editor.apply(cases[2].edit())
    assert len(editor.batch) == 1
    for name, weight in zip(editor.down_names, after_batch, strict=True):
        assert torch.equal(editor.before_batch[name], weight)
    editor.reset()
    assert editor.batch == [] and editor.before_batch == {}


def test_with_one_edit_per_batch_no_weights_are_copied():
    adapter = ToyAdapter()
    editor = make_editor("memit", adapter, train=TRAIN)
    editor.apply(wrong_target(adapter, make_case(30)).edit())
    assert editor.before_batch == {}


@pytest.mark.parametrize(
    ("config", "field"),
    [({"layers": []}, "layers"), ({"layers": [1.5]}, "layers"), ({"batch_size": 0}, "batch_size"),
     ({"mom2_weight_per_dim": -1.0}, "mom2_weight_per_dim"), ({"v_lr": 0}, "v_lr")],
)  # fmt: skip
def test_bad_configs_name_the_field(config, field):
    with pytest.raises(ConfigError, match=field):
        parse_editor_config("memit", config)


def test_a_layer_the_model_lacks_is_refused():
    with pytest.raises(ConfigError, match="layer"):
        parse_editor_config("memit", {"layers": [0, 9]}).check_for_model(4)
