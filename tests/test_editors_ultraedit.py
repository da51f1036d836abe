"""UltraEdit: one forward and backward pass per edit, the closed-form update and the running
(lifelong) statistics of keys and gradients."""

from __future__ import annotations

import pytest
import torch

from evaluator.editors.base import ConfigError
from evaluator.editors.registry import parse_editor_config
from evaluator.editors.ultraedit import RunningMoments, ultra_delta
from tests.test_editors_common import (
    ToyAdapter,
    case_probe,
    edited_score,
    make_case,
    make_editor,
    wrong_target,
)

TRAIN = [make_case(400 + i) for i in range(4)]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def moments(rows: torch.Tensor) -> RunningMoments:
    running = RunningMoments(0, torch.zeros(rows.shape[1]), torch.zeros(rows.shape[1]))
    running.add(rows)
    return running


def test_the_update_moves_the_edit_output_along_the_negative_normalised_gradient():
    gen = torch.Generator().manual_seed(0)
    seen_k, seen_g = torch.randn(30, 6, generator=gen), torch.randn(30, 4, generator=gen)
    key, grad = torch.randn(1, 6, generator=gen), torch.randn(1, 4, generator=gen)
    norm_k, norm_g = moments(seen_k), moments(seen_g)
    delta = ultra_delta(key, grad, norm_k, norm_g, lr=0.5, ridge=0.3)
    k_hat = key.double() / norm_k.rms()
    share = float(k_hat.pow(2).sum() / (k_hat.pow(2).sum() + 0.3))
    expected = -0.5 * grad.double() / norm_g.rms() * share
    assert torch.allclose((delta @ key.double().T).T, expected, atol=1e-9)
    assert float((delta @ key.double().T).T @ grad.double().T) < 0  # a descent direction


def test_running_statistics_grow_with_every_edit_and_reset_to_the_train_statistics():
    adapter = ToyAdapter()
    editor = make_editor("ultraedit", adapter, train=TRAIN)
    start = {n: (m[0].count, m[1].count) for n, m in editor.moments.items()}
    assert all(k > 0 and g > 0 for k, g in start.values())
    for i in range(3):
        editor.apply(wrong_target(adapter, make_case(60 + i)).edit())
    for name, (norm_k, norm_g) in editor.moments.items():
        assert (norm_k.count, norm_g.count) == (start[name][0] + 3, start[name][1] + 3)
    editor.reset()
    assert {n: (m[0].count, m[1].count) for n, m in editor.moments.items()} == start


def test_an_edit_is_one_forward_and_backward_pass(monkeypatch):
    adapter = ToyAdapter()
    editor = make_editor("ultraedit", adapter, train=TRAIN)
    calls = []
    loss = adapter.loss
    monkeypatch.setattr(adapter, "loss", lambda probes: calls.append(len(probes)) or loss(probes))
    case = wrong_target(adapter, make_case(70))
    editor.apply(case.edit())
    assert calls == [1]
    assert edited_score(editor, case_probe(case)).exact_match


def test_without_train_statistics_the_first_edit_still_moves_toward_its_target():
    adapter = ToyAdapter()
    editor = make_editor("ultraedit", adapter, train=[])
    probe = case_probe(wrong_target(adapter, make_case(71)))
    with torch.no_grad():
        before = float(adapter.loss([probe]))
    editor.apply(wrong_target(adapter, make_case(71)).edit())
    with torch.no_grad():
        after = float(adapter.loss([probe]))
    assert editor.setup_seconds == 0.0 and editor.moments
    assert after < before - 0.1


@pytest.mark.parametrize(
    ("config", "field"),
    [({"edit_lr": 0}, "edit_lr"), ({"ridge": -1.0}, "ridge"), ({"layers": [2.0]}, "layers"),
     ({"stats_cases": -1}, "stats_cases")],
)  # fmt: skip
def test_bad_configs_name_the_field(config, field):
    with pytest.raises(ConfigError, match=field):
        parse_editor_config("ultraedit", config)
