"""AlphaEdit: the null-space projector, updates that leave the preserved keys' outputs alone,
and the previously edited keys accumulated over a sequence."""

from __future__ import annotations

import pytest
import torch

from evaluator.editors.alphaedit import alphaedit_delta, null_space_projector
from evaluator.editors.base import ConfigError
from evaluator.editors.registry import parse_editor_config
from tests.test_editors_common import ToyAdapter, make_case, make_editor, wrong_target

TRAIN = [make_case(300 + i) for i in range(4)]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def low_rank_keys(rank: int = 5, width: int = 8, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(60, rank, generator=gen) @ torch.randn(rank, width, generator=gen)


def test_the_projector_is_the_orthogonal_projection_onto_the_null_space():
    preserved = low_rank_keys()
    projector = null_space_projector(preserved.T @ preserved / 60, threshold=1e-6)
    assert torch.allclose(projector, projector.T, atol=1e-6)
    assert torch.allclose(projector @ projector, projector, atol=1e-5)
    assert round(float(projector.trace())) == 3
    assert (preserved @ projector).abs().max() < 1e-4


def test_the_projected_update_leaves_every_preserved_key_unchanged_and_still_edits():
    preserved = low_rank_keys(seed=1)
    projector = null_space_projector(preserved.T @ preserved / 60, threshold=1e-6)
    gen = torch.Generator().manual_seed(2)
    keys, gap = torch.randn(1, 8, generator=gen), torch.randn(1, 4, generator=gen)
    delta = alphaedit_delta(keys, gap, projector, torch.zeros(8, 8, dtype=torch.float64), 1e-6)
    assert (delta @ preserved.double().T).abs().max() < 1e-4 * delta.abs().max()
    assert torch.allclose(delta @ keys.double().T, gap.double().T, atol=1e-4)


def test_previous_edit_keys_hold_their_outputs_against_a_new_edit():
    gen = torch.Generator().manual_seed(3)
    eye = torch.eye(8)
    first, second = torch.randn(1, 8, generator=gen), torch.randn(1, 8, generator=gen)
    gap = torch.randn(1, 4, generator=gen)
    k1 = first.double()
    free = alphaedit_delta(second, gap, eye, torch.zeros(8, 8, dtype=torch.float64), 0.1)
    kept = alphaedit_delta(second, gap, eye, 100 * k1.T @ k1, 0.1)
    assert (kept @ k1.T).norm() < 0.1 * (free @ k1.T).norm()


def test_the_editor_accumulates_each_finished_batch_and_forgets_on_reset():
    adapter = ToyAdapter()
    editor = make_editor("alphaedit", adapter, train=TRAIN)
    cases = [wrong_target(adapter, make_case(40 + i)) for i in range(3)]
    editor.apply(cases[0].edit())
    assert editor.previous == {} and set(editor.batch_keys) == set(editor.down_names)
    first_keys = dict(editor.batch_keys)
    editor.apply(cases[1].edit())
    for name in editor.down_names:
        k = first_keys[name].double()
        assert torch.allclose(editor.previous[name], k.T @ k)
    editor.apply(cases[2].edit())
    assert all(editor.previous[n].shape == (64, 64) for n in editor.down_names)
    editor.reset()
    assert editor.previous == {} and editor.batch_keys == {} and editor.batch == []


def test_every_layer_update_lies_in_the_null_space_of_the_preserved_keys():
    adapter = ToyAdapter()
    editor = make_editor("alphaedit", adapter, train=TRAIN)
    before = {n: adapter.get_module(n).weight.detach().clone() for n in editor.down_names}
    editor.apply(wrong_target(adapter, make_case(50)).edit())
    for name in editor.down_names:
        delta = adapter.get_module(name).weight.detach() - before[name]
        outside = delta @ (torch.eye(64) - editor.projectors[name])
        assert delta.norm() > 0 and outside.norm() < 1e-3 * delta.norm(), name
    editor.reset()


@pytest.mark.parametrize(
    ("config", "field"),
    [({"nullspace_threshold": 2.0}, "nullspace_threshold"), ({"l2": 0}, "l2"),
     ({"layers": []}, "layers")],
)  # fmt: skip
def test_bad_configs_name_the_field(config, field):
    with pytest.raises(ConfigError, match=field):
        parse_editor_config("alphaedit", config)
