"""FT-L: only the chosen projection changes, and never beyond the norm bound."""

from __future__ import annotations

import pytest

from tests.test_editors_common import (  # noqa: F401 (single_thread_torch is autouse)
    ToyAdapter,
    make_case,
    make_editor,
    single_thread_torch,
    wrong_target,
)


@pytest.mark.parametrize("kind", ["linf", "l2"])
def test_weight_change_stays_inside_the_norm_ball(kind):
    adapter = ToyAdapter()
    editor = make_editor("ft", adapter, norm_constraint=0.01, norm_kind=kind, steps=5)
    (name,) = editor.touched_modules()
    before = adapter.get_module(name).weight.detach().clone()
    editor.apply(wrong_target(adapter, make_case(0)).edit())
    delta = adapter.get_module(name).weight.detach() - before
    size = delta.abs().max() if kind == "linf" else delta.norm()
    assert 0 < size <= 0.01 + 1e-6
    assert name == "model.language_model.layers.2.mlp.down_proj"


def test_float_layer_is_relative_depth_and_requires_grad_is_restored_after_an_edit():
    adapter = ToyAdapter()
    editor = make_editor("ft", adapter, layer=1.0, module="attn.o", steps=2)
    assert editor.touched_modules() == ["model.language_model.layers.3.self_attn.o_proj"]
    adapter.model.model.vision_tower.weight.requires_grad_(False)
    editor.apply(wrong_target(adapter, make_case(1)).edit())
    flags = {n: p.requires_grad for n, p in adapter.model.named_parameters()}
    assert flags.pop("model.vision_tower.weight") is False
    assert all(flags.values())


def _counted_steps(monkeypatch) -> list[int]:
    """Patches FT's optimiser loop to count, per edit, the steps it took."""
    import evaluator.editors.ft as ft

    counts: list[int] = []
    real = ft.optimise_steps

    def counting(optimizer, loss_fn, *args, **kwargs):
        calls = [0]

        def counted():
            calls[0] += 1
            return loss_fn()

        real(optimizer, counted, *args, **kwargs)
        counts.append(calls[0])

    monkeypatch.setattr(ft, "optimise_steps", counting)
    return counts


def test_an_edit_stops_once_the_target_is_the_argmax_and_is_reached(monkeypatch):
    """stop_when_reached stops at the first loss evaluation whose answer tokens
    are all the target's argmax: fewer steps than the budget, and the edit still holds. Off,
    the same edit runs every step (its loss never falls below early_stop_loss = 0 here)."""
    from tests.test_editors_common import case_probe, edited_score

    counts = _counted_steps(monkeypatch)
    case = wrong_target(ToyAdapter(), make_case(0))
    for reached in (True, False):
        adapter = ToyAdapter()
        editor = make_editor(
            "ft", adapter, steps=30, lr=0.05, early_stop_loss=0.0, stop_when_reached=reached
        )
        editor.apply(case.edit())
        assert edited_score(editor, case_probe(case)).exact_match
    stopped, full = counts
    assert 1 < stopped < 30 and full == 30
