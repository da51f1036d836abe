"""The frozen-prefix loss (evaluator.models.frozen_prefix): on both zoo architectures the
loss and its gradients equal the full model's bit for bit at every layer, each editor that uses
it edits bit for bit the same as without it, the prefix really runs once per edit, and the
recorded tensors are released afterwards."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
import torch

from evaluator.editors.probes import edit_probe
from evaluator.editors.trained import locality_probes
from evaluator.editors.training import model_mode, only_trainable
from evaluator.models.frozen_prefix import FrozenPrefixLoss, frozen_prefix_loss, replayable
from tests.test_editors_common import edited_score, make_editor_from

ZOO = ["tiny_llava_onevision_dir", "tiny_qwen2_vl_dir"]
# few steps: equality, not quality, is checked here; layers as the defaults put them or lower
EDITORS = {
    "ft": {"steps": 6, "layer": 1},
    "grace": {"n_iter": 6},
    "wise": {"n_iter": 4, "irrelevant_cases": 2},
    "memoir": {"n_iter": 6},
    # the target residual's steps (optimise_shift) start at the last edited layer's down
    # projection; the layers below it and the vision tower run once per edit
    "memit": {"v_steps": 6, "layers": [0, 1]},
    "alphaedit": {"v_steps": 6, "layers": [0, 1]},
}


@pytest.fixture(autouse=True)
def _own_home(monkeypatch, tmp_path) -> None:
    """The locate editors' statistics caches go to a temporary MME_HOME, not the checkout."""
    monkeypatch.setenv("MME_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module", params=ZOO)
def zoo(request, tiny_benchmark_dir) -> Iterator[tuple]:
    from evaluator.benchmark.loader import load_benchmark
    from evaluator.models.loading import load_vlm

    adapter = load_vlm(str(request.getfixturevalue(request.param)), device="cpu")
    train = load_benchmark(str(tiny_benchmark_dir), "train").cases[:4]
    public = load_benchmark(str(tiny_benchmark_dir), "public").cases[:3]
    assert replayable(adapter)
    yield adapter, train, public
    adapter.prefix_cache = True


def _probes(case) -> list:
    """The edit probe (with images) and its locality probes (text only among them)."""
    return [edit_probe(case.edit()), *locality_probes(case)]


@pytest.mark.parametrize("memo", [False, True], ids=["layers", "layers+memo"])
def test_the_loss_and_its_gradients_equal_the_full_models_at_every_layer(zoo, memo):
    adapter, _, public = zoo
    probes = _probes(public[0])
    assert len(adapter.image_count_groups(probes)) > 1  # text-only and image probes both
    with model_mode(adapter.model, False):
        for layer in range(adapter.num_layers):
            down = adapter.get_module(adapter.module_name(layer, "mlp.down"))
            params = list(down.parameters())
            full = adapter.loss(probes)
            full_grads = torch.autograd.grad(full, params)
            edited = [down] if memo else []
            with (
                only_trainable(adapter.model, params),
                frozen_prefix_loss(adapter, probes, layer, edited) as loss,
            ):
                assert all(bool(g.memo and g.memo.outputs) == memo for g in loss.groups)
                assert isinstance(loss, FrozenPrefixLoss)
                for _ in range(2):  # the recorded prefix serves every call
                    cached = loss()
                    grads = torch.autograd.grad(cached, params)
                    assert torch.equal(cached, full), (layer, cached, full)
                    assert all(torch.equal(a, b) for a, b in zip(grads, full_grads, strict=True))
            assert loss.groups == []  # released on exit


def test_off_or_without_a_layer_it_is_the_adapters_own_loss(zoo):
    adapter, _, public = zoo
    probes = _probes(public[0])
    adapter.prefix_cache = False
    try:
        with frozen_prefix_loss(adapter, probes, 1) as loss:
            assert not isinstance(loss, FrozenPrefixLoss)
    finally:
        adapter.prefix_cache = True
    with frozen_prefix_loss(adapter, probes, None) as loss:
        assert not isinstance(loss, FrozenPrefixLoss)
    with pytest.raises(ValueError, match="from_layer"):
        FrozenPrefixLoss(adapter, probes, adapter.num_layers)


def _edit(adapter, train, public, name: str) -> tuple[dict, list, int]:
    """Two edits in a row: the model's state, the edited scores of every probe of three cases,
    and how often the first decoder layer ran during the edits."""
    calls = [0]
    first = adapter.get_module(adapter.layers_path)[0]
    handle = first.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    original = copy.deepcopy(adapter.model.state_dict())
    editor = make_editor_from(name, adapter, train, EDITORS[name])
    try:
        for case in public[:2]:
            editor.apply(case.edit())
    finally:
        handle.remove()
    state = {k: v.clone() for k, v in adapter.model.state_dict().items()}
    scores = [edited_score(editor, p) for case in public for p in _probes(case)]
    editor.reset()
    adapter.model.load_state_dict(original)
    return state, scores, calls[0]


@pytest.mark.parametrize("name", list(EDITORS))
def test_each_editor_edits_bit_for_bit_the_same_and_runs_the_prefix_once(zoo, name):
    adapter, train, public = zoo
    adapter.prefix_cache = False
    state_off, scores_off, calls_off = _edit(adapter, train, public, name)
    adapter.prefix_cache = True
    state_on, scores_on, calls_on = _edit(adapter, train, public, name)
    assert state_on.keys() == state_off.keys()
    assert all(torch.equal(state_on[k], state_off[k]) for k in state_on)
    assert scores_on == scores_off  # ProbeScore: argmax, token accuracy, exact log-prob
    assert calls_on < calls_off, (calls_on, calls_off)


def _calls(module: torch.nn.Module) -> list[int]:
    """How often `module` is called (a replayed call counts: hooks still run)."""
    calls = [0]
    module.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def _runs(module: torch.nn.Module) -> list[int]:
    """How often `module`'s own forward runs (a replayed call does not count)."""
    runs, forward = [0], module.forward

    def counted(*args: object, **kwargs: object) -> object:
        runs[0] += 1
        return forward(*args, **kwargs)

    module.forward = counted
    return runs


def test_the_edited_layers_calls_before_the_edited_module_run_once_per_edit(zoo):
    adapter, _, public = zoo
    probes = _probes(public[0])
    layer = adapter.num_layers - 1
    decoder = adapter.get_module(adapter.layers_path)[layer]
    down = adapter.get_module(adapter.module_name(layer, "mlp.down"))
    names = {id(m): n for n, m in decoder.named_modules()}
    with (
        model_mode(adapter.model, False),
        only_trainable(adapter.model, list(down.parameters())),
        frozen_prefix_loss(adapter, probes, layer, [down]) as loss,
    ):
        assert isinstance(loss, FrozenPrefixLoss)
        for group in loss.groups:
            assert group.memo is not None
            kept = {names[id(m)] for m in group.memo.outputs}
            # everything of the layer upstream of the down projection, nothing inside or after it
            assert {"self_attn", "mlp.gate_proj", "mlp.up_proj"} <= kept, kept
            assert not any(name.startswith("mlp.down") for name in kept), kept
        query, projection, edited = (
            _calls(decoder.self_attn.q_proj), _runs(decoder.mlp.up_proj), _calls(down)
        )  # fmt: skip
        try:
            for _ in range(3):
                loss()
        finally:
            for module in (decoder.self_attn.q_proj, down):
                module._forward_pre_hooks.clear()
            del decoder.mlp.up_proj.forward
    groups = len(adapter.image_count_groups(probes))
    assert query == [0] and projection == [0]  # replayed, not run
    assert edited == [3 * groups]  # the edited module itself runs at every call
    # outside the block nothing is replayed: the full model runs its own layers
    assert "forward" not in decoder.self_attn.__dict__


class _InPlaceLayer(torch.nn.Module):
    """A layer whose code changes a constant submodule's output in place: before the edited
    module reads it (seen while recording), or after the edited module ran (unseen while
    recording, which stops at the edited module; seen after the first replay)."""

    def __init__(self, after_edit: bool) -> None:
        super().__init__()
        self.after_edit = after_edit
        self.pre = torch.nn.Linear(4, 4)
        self.edited = torch.nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.pre(x)
        if self.after_edit:
            return hidden.add_(self.edited(hidden))
        return self.edited(hidden.mul_(2))


def test_an_output_changed_in_place_is_not_replayed():
    from evaluator.models.layer_memo import LayerMemo

    torch.manual_seed(0)
    layer, x = _InPlaceLayer(after_edit=False).requires_grad_(False), torch.randn(3, 4)
    expected = layer(x)
    memo = LayerMemo.record(layer, [layer.edited], lambda: layer(x))
    assert memo.outputs == {}
    for _ in range(2):
        with memo.replaying():
            assert torch.equal(layer(x), expected)


def test_an_output_changed_in_place_after_a_replay_drops_the_memo():
    from evaluator.models.layer_memo import LayerMemo

    torch.manual_seed(0)
    layer, x = _InPlaceLayer(after_edit=True).requires_grad_(False), torch.randn(3, 4)
    memo = LayerMemo.record(layer, [layer.edited], lambda: layer(x))
    assert list(memo.outputs) == [layer.pre]
    for _ in range(3):
        with memo.replaying():
            assert torch.equal(layer(x), _InPlaceLayer.forward(layer, x))
    assert memo.outputs == {}  # dropped after the first replay changed its tensor


def test_a_memo_returns_the_recorded_outputs_in_call_order_then_runs_the_module():
    from evaluator.models.layer_memo import LayerMemo

    class Counted(torch.nn.LayerNorm):
        runs = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.runs += 1
            return super().forward(x)

    class Twice(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm, self.edited = Counted(4), torch.nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.norm(self.edited(self.norm(x)) + self.norm(x + 1))

    torch.manual_seed(0)
    layer, x = Twice().requires_grad_(False), torch.randn(2, 4)
    layer.edited.weight.requires_grad_(True)
    memo = LayerMemo.record(layer, [layer.edited], lambda: layer(x))
    assert [len(v) for v in memo.outputs.values()] == [1]  # one norm call before the edit
    layer.norm.runs = 0
    with memo.replaying():
        out = layer(x)
    assert layer.norm.runs == 2  # the first call replayed, the two after the edit run
    assert torch.equal(out, layer(x))
    assert out.requires_grad  # the edited module's gradient path is the real one
