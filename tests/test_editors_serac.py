"""SERAC: the counterfactual model is a smaller model of the base's own class for every supported
family; routed rows get exactly the counterfactual model's logits and every other row exactly
the base model's, in mixed batches; the classifier threshold governs routing; the trained state
is stored once and loaded afterwards; no base weight changes."""

from __future__ import annotations

import pytest
import torch

from evaluator.editors.serac import counterfactual_model, with_edit
from evaluator.models.adapter import VLMAdapter
from evaluator.models.probe import Probe
from tests.test_editors_common import (  # noqa: F401 (autouse fixtures)
    FAST,
    TOY_TRAIN,
    ToyAdapter,
    case_probe,
    learned_editor_home,
    make_case,
    make_editor_from,
    module_tree,
    single_thread_torch,
    state_hashes,
    trained_editors_in_tmp,
    wrong_target,
)


def serac(adapter, **overrides):
    return make_editor_from("serac", adapter, TOY_TRAIN, {**FAST["serac"], **overrides})


def test_routed_rows_get_counterfactual_logits_and_the_rest_base_logits():
    adapter = ToyAdapter()
    editor = serac(adapter)
    case = wrong_target(adapter, make_case(0))
    unrelated = Probe((), "who wrote the novel number 7", "tolstoy")
    base_unrelated = adapter._answer_logits([unrelated])[0].detach()
    editor.apply(case.edit())
    routed = editor.transform_probe(case_probe(case))
    kept = editor.transform_probe(unrelated)
    assert routed.prefix.startswith("Edit: ") and kept == unrelated
    mixed, _ = adapter._answer_logits([routed, kept])
    cf_adapter = editor._cf_adapter()
    expected_routed, _ = cf_adapter._answer_logits([routed])
    assert torch.allclose(mixed[:1], expected_routed, atol=1e-5)
    assert torch.allclose(mixed[1:], base_unrelated, atol=1e-5)
    assert adapter.score([routed])[0].exact_match
    editor.reset()
    assert not adapter.model._forward_hooks


def test_threshold_one_routes_nothing():
    adapter = ToyAdapter()
    editor = serac(adapter, threshold=1.0)
    case = wrong_target(adapter, make_case(0))
    editor.apply(case.edit())
    assert editor.transform_probe(case_probe(case)) == case_probe(case)
    editor.reset()


def test_trained_state_is_stored_with_a_card_and_loaded_the_second_time(monkeypatch):
    adapter = ToyAdapter()
    first = serac(adapter)
    card = first.card
    assert card["editor"] == "serac" and card["training_steps"] == 400
    assert card["train_cases"] == len(TOY_TRAIN) and len(card["train_split_sha256"]) == 64
    assert set(card["model"]) == {"id", "revision", "weights_fingerprint"}
    assert first.setup_seconds == card["training_seconds"] > 0
    monkeypatch.setattr(type(first), "train", lambda self, progress: pytest.fail("retrained"))
    second = serac(ToyAdapter(), threshold=0.9)  # an edit-time field: the same trained editor
    assert second.trained_folder() == first.trained_folder()
    for name, tensor in first.cf_model.state_dict().items():
        assert torch.equal(tensor, second.cf_model.state_dict()[name])


def test_serac_never_changes_a_base_weight():
    adapter = ToyAdapter()
    hashes, tree = state_hashes(adapter.model), module_tree(adapter.model)
    editor = serac(adapter)
    for i in range(3):
        editor.apply(wrong_target(adapter, make_case(i)).edit())
        editor.transform_probe(case_probe(make_case(i)))
    assert editor.touched_modules() == []
    editor.reset()
    assert state_hashes(adapter.model) == hashes and module_tree(adapter.model) == tree


FAMILIES = ["llava-onevision", "qwen2-vl", "qwen2.5-vl", "llava", "idefics3"]


@pytest.mark.parametrize("family", FAMILIES)
def test_counterfactual_model_is_a_smaller_model_of_the_same_class(family, tiny_family_dirs):
    from evaluator.models.loading import load_vlm

    adapter = load_vlm(str(tiny_family_dirs[family]), device="cpu")
    cf = counterfactual_model(adapter.model, 1)
    assert type(cf) is type(adapter.model)
    cf_adapter = VLMAdapter(cf, adapter.processor)
    assert cf_adapter.num_layers == 1 < adapter.num_layers
    assert sum(p.numel() for p in cf.parameters()) < sum(
        p.numel() for p in adapter.model.parameters()
    )
    base = dict(adapter.model.named_parameters())
    shared = [n for n, p in cf.named_parameters() if n in base and base[n].shape == p.shape]
    assert shared and all(torch.equal(dict(cf.named_parameters())[n], base[n]) for n in shared)
    probe = Probe((), "What organ is shown in this image?", "A. liver")
    assert len(cf_adapter.score([with_edit(probe, _edit())])) == 1


def _edit():
    from evaluator.benchmark.case import Edit

    return Edit("e", (), "What organ is shown?", {"A": "liver", "B": "heart"}, "A")


ZOO = ["tiny_llava_onevision_dir", "tiny_qwen2_vl_dir"]


@pytest.mark.parametrize("fixture", ZOO)
def test_zoo_architectures_route_in_mixed_batches_and_restore(fixture, request, tiny_benchmark_dir):
    from evaluator.benchmark.loader import load_benchmark
    from evaluator.models.loading import load_vlm

    adapter = load_vlm(str(request.getfixturevalue(fixture)), device="cpu")
    train = load_benchmark(str(tiny_benchmark_dir), "train").cases
    public = load_benchmark(str(tiny_benchmark_dir), "public").cases
    hashes, tree = state_hashes(adapter.model), module_tree(adapter.model)
    config = {"cf_steps": 2, "classifier_steps": 2, "classifier_cases": 4, "threshold": 0.0}
    editor = make_editor_from("serac", adapter, train, config)
    case = next(c for c in public if len(c.images) == 1)
    editor.apply(case.edit())
    routed = editor.transform_probe(case_probe(case))
    unrouted = Probe(case.images, case.question, case.target, case.options)
    assert routed.prefix and not unrouted.prefix
    routed_rows = adapter.score([routed, unrouted])
    cf_scores = editor._cf_adapter().score([routed])
    base_scores = adapter.score([unrouted])
    assert routed_rows[0].argmax_ids == cf_scores[0].argmax_ids
    assert routed_rows[1].argmax_ids == base_scores[0].argmax_ids
    editor.reset()
    assert module_tree(adapter.model) == tree and state_hashes(adapter.model) == hashes
