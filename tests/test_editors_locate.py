"""What MEMIT, AlphaEdit and UltraEdit share (evaluator/editors/locate.py): the decoder layer
found through the adapter alone, keys read at the last prompt position, statistics that see
every real token and no padding, gradients read through output taps, the target residual, and
the statistics cache keyed by model, revision, layers and train prompts."""

from __future__ import annotations

import pytest
import torch

from evaluator.editors.locate import (
    decoder_layer_name,
    key_second_moments,
    keys_and_gradients,
    optimise_shift,
    probes_digest,
    read_last,
    shifted_last_position,
    train_probes,
)
from evaluator.editors.memit import MEMITConfig
from evaluator.editors.probes import edit_probe
from evaluator.editors.registry import get_editor, parse_editor_config
from tests.fake_vlm import FakeAdapter
from tests.test_editors_common import ToyAdapter, make_case, wrong_target


@pytest.fixture(autouse=True)
def one_thread_and_a_private_home(monkeypatch, tmp_path):
    """Tiny ops: one thread; statistics caches go to a temporary MME_HOME."""
    monkeypatch.setenv("MME_HOME", str(tmp_path / "home"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def toy_with_identity(revision: str = "rev-1", model_id: str = "toy/vlm") -> ToyAdapter:
    adapter = ToyAdapter()
    adapter.model_id, adapter.revision = model_id, revision
    return adapter


def build(name: str, adapter, train, **config):
    parsed = parse_editor_config(name, config)
    parsed.check_for_model(adapter.num_layers)
    return get_editor(name)(adapter, parsed, train_cases=train, seed=0)


def test_the_decoder_layer_is_found_from_the_projection_names_alone():
    toy, fake = ToyAdapter(), FakeAdapter()
    assert decoder_layer_name(toy, 2) == "model.language_model.layers.2"
    assert decoder_layer_name(fake, -1) == "layers.3"
    assert "mlp" in dict(toy.get_module(decoder_layer_name(toy, 2)).named_children())


def test_every_family_has_a_decoder_layer_holding_its_down_projection(tiny_family_dirs):
    from evaluator.models import load_vlm

    for family, folder in tiny_family_dirs.items():
        adapter = load_vlm(str(folder), device="cpu")
        layer = decoder_layer_name(adapter, adapter.num_layers - 1)
        down = adapter.module_name(adapter.num_layers - 1, "mlp.down")
        assert down.startswith(layer + "."), family
        assert not any(layer.startswith(p) for p in adapter.vision_module_prefixes()), family


def test_statistics_count_every_real_token_once_and_no_padding():
    adapter = ToyAdapter()
    probes = train_probes([make_case(i) for i in range(3)], 3)
    name = adapter.module_name(1, "mlp.down")
    together = key_second_moments(adapter, [name], probes, "test")
    alone = [key_second_moments(adapter, [name], [p], "test") for p in probes]
    tokens = [int(a[f"{name}:count"]) for a in alone]
    expected = sum(a[name] * n for a, n in zip(alone, tokens, strict=True)) / sum(tokens)
    assert int(together[f"{name}:count"]) == sum(tokens)
    assert torch.allclose(together[name], expected, atol=1e-6)


def test_train_probes_use_text_and_image_prompts_of_each_case():
    cases = [make_case(i) for i in range(5)]
    probes = train_probes(cases, 2)
    assert len(probes) == 8
    assert [len(p.images) for p in probes[:4]] == [1, 0, 1, 1]
    assert probes[0].answer == cases[0].answer and probes[3].options == cases[0].mc_loc_options
    assert probes_digest(probes) != probes_digest(train_probes(cases, 3)[:8][::-1])


def test_tapped_gradients_equal_autograd_on_the_module_output():
    adapter = ToyAdapter()
    probe = edit_probe(wrong_target(adapter, make_case(4)).edit())
    name = adapter.module_name(2, "mlp.down")
    keys, grads = keys_and_gradients(adapter, [name], [probe])[name]
    stored = {}

    def keep(module, args, output):
        output.retain_grad()
        stored["out"], stored["in"] = output, args[0]

    handle = adapter.get_module(name).register_forward_hook(keep)
    adapter.loss([probe]).backward()
    handle.remove()
    adapter.model.zero_grad(set_to_none=True)
    last = len(adapter.encode([probe])["input_ids"][0]) - 2  # one answer token
    assert keys.shape == (1, 64) and grads.shape == (1, 32)
    assert torch.allclose(keys[0], stored["in"][0, last].detach())
    assert torch.allclose(grads[0], stored["out"].grad[0, last], atol=1e-7)


def test_the_optimised_shift_makes_the_probe_answer_its_target():
    adapter = ToyAdapter()
    case = wrong_target(adapter, make_case(5))
    probe = edit_probe(case.edit())
    top = decoder_layer_name(adapter, 1)
    down = adapter.module_name(1, "mlp.down")
    config = MEMITConfig(v_steps=40, v_lr=0.5, clamp_norm_factor=4.0)
    residual, shift = optimise_shift(adapter, probe, down, top, config)
    assert 0 < shift.norm() <= 4.0 * residual.norm() + 1e-5
    with torch.no_grad(), shifted_last_position(adapter, down, shift):
        assert adapter.score([probe])[0].exact_match
        moved = read_last(adapter, probe, [], [top])[f"{top}:out"]
    assert not adapter.score([probe])[0].exact_match
    assert torch.allclose(moved, residual + shift, atol=1e-5)
    assert not adapter.get_module(down)._forward_hooks


def test_statistics_are_cached_by_model_revision_layers_and_train_prompts(tmp_path):
    train = [make_case(100 + i) for i in range(3)]
    first = build("memit", toy_with_identity(), train)
    again = build("memit", toy_with_identity(), train)
    assert not first.stats_cached and again.stats_cached
    assert first.setup_seconds > 0 and again.setup_seconds == first.setup_seconds
    for name in first.down_names:
        assert torch.equal(first.stats[name], again.stats[name])
    folders = {p.parent for p in (tmp_path / "home" / "editor-stats").rglob("stats.pt")}
    assert len(folders) == 1
    build("memit", toy_with_identity(revision="rev-2"), train)
    build("memit", toy_with_identity(), train[:2])
    build("memit", toy_with_identity(), train, layers=[1])
    build("alphaedit", toy_with_identity(), train)  # shares MEMIT's key statistics
    folders = {p.parent for p in (tmp_path / "home" / "editor-stats" / "mom2").rglob("stats.pt")}
    assert len(folders) == 4
    assert (tmp_path / "home" / "editor-stats" / "nullspace").is_dir()


def test_an_adapter_without_a_revision_caches_nothing(tmp_path):
    editor = build("memit", ToyAdapter(), [make_case(7)])
    assert editor.stats and editor.setup_seconds > 0
    assert not (tmp_path / "home" / "editor-stats").exists()


def test_no_train_cases_means_no_statistics_and_no_setup_cost():
    editor = build("memit", ToyAdapter(), [])
    assert editor.stats == {} and editor.setup_seconds == 0.0


@pytest.mark.parametrize("name", ["memit", "alphaedit", "ultraedit"])
def test_layers_are_resolved_relative_to_depth_and_merged(name):
    editor = build(name, ToyAdapter(), [], layers=[0.0, 0.1, -1, 3])
    assert editor.layers == [0, 3]
    assert editor.touched_modules() == [
        "model.language_model.layers.0.mlp.down_proj",
        "model.language_model.layers.3.mlp.down_proj",
    ]
