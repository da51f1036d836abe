"""The adapter on tiny random models of every supported family, loaded through load_vlm."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from evaluator.models import Probe, VLMAdapter, load_vlm
from evaluator.models.adapter import ANSWER_INSTRUCTION, IGNORE
from evaluator.models.families import PROJECTIONS
from tests.fixtures.models import FAMILY_BUILDERS, random_image, save_tiny_family

OPTIONS = {"A": "liver", "B": "kidney", "C": "spleen"}
FAMILIES = sorted(FAMILY_BUILDERS)
EXPECTED_CLASS = {
    "llava-onevision": "LlavaOnevisionForConditionalGeneration",
    "qwen2-vl": "Qwen2VLForConditionalGeneration",
    "qwen2.5-vl": "Qwen2_5_VLForConditionalGeneration",
    "llava": "LlavaForConditionalGeneration",
    "idefics3": "Idefics3ForConditionalGeneration",
}


def mixed_probes() -> list[Probe]:
    """Text-only, one-image and multi-image probes, interleaved, answers of several lengths."""
    return [
        Probe((random_image(1),), "What organ is shown in this image?", "A", OPTIONS),
        Probe((), "What is the capital of France?", "Paris"),
        Probe((random_image(2), random_image(3)), "Which frame shows the lesion?", "B", OPTIONS),
        Probe((random_image(4),), "What organ is shown?", "C", OPTIONS, prefix="demo text"),
        Probe((), "How many frames show a nodule?", "frame 2"),
        Probe((random_image(5), random_image(6), random_image(7)), "Which frame?", "A", OPTIONS),
    ]


@pytest.fixture(scope="module")
def adapters(tiny_family_dirs: dict[str, Path]) -> dict[str, VLMAdapter]:
    return {family: load_vlm(str(path)) for family, path in tiny_family_dirs.items()}


@pytest.mark.parametrize("family", FAMILIES)
def test_load_vlm_goes_through_auto_classes_on_cpu_in_eval_mode(adapters, family):
    adapter = adapters[family]
    assert type(adapter.model).__name__ == EXPECTED_CLASS[family]
    assert adapter.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert not adapter.model.training
    assert next(adapter.model.parameters()).dtype == torch.float32
    assert len(adapter.revision) == 64


@pytest.mark.parametrize("family", FAMILIES)
def test_prompt_uses_chat_template_with_one_placeholder_per_image(adapters, family):
    adapter = adapters[family]
    probe = Probe((random_image(0), random_image(1)), "Which frame?", "A", OPTIONS, prefix="P!")
    prompt = adapter.prompt_text(probe)
    assert prompt.count(adapter.processor.image_token) == 2
    assert prompt.index("P!") < prompt.index(adapter.processor.image_token) < prompt.index("Which")
    assert "A. liver\nB. kidney\nC. spleen\n" + ANSWER_INSTRUCTION in prompt
    no_images = adapter.prompt_text(Probe((), "Capital of France?", "Paris"))
    assert adapter.processor.image_token not in no_images
    assert ANSWER_INSTRUCTION not in no_images


def test_plain_template_when_the_processor_has_no_chat_template(tmp_path):
    path = save_tiny_family("llava", tmp_path / "plain", with_chat_template=False)
    adapter = load_vlm(str(path))
    probe = Probe((random_image(0),), "What organ?", "B", OPTIONS)
    assert adapter.prompt_text(probe) == (
        "<image>\nWhat organ?\nA. liver\nB. kidney\nC. spleen\n"
        + ANSWER_INSTRUCTION
        + "\nAnswer:\n"
    )
    assert adapter.score([probe])[0].answer_ids == tuple(adapter.answer_ids(probe))


@pytest.mark.parametrize("family", FAMILIES)
def test_a_padded_mixed_batch_scores_like_each_probe_alone(adapters, family):
    adapter = adapters[family]
    probes = mixed_probes()
    together = adapter.score(probes, batch_size=8)
    alone = [adapter.score([p])[0] for p in probes]
    for batched, single in zip(together, alone, strict=True):
        assert batched.answer_ids == single.answer_ids
        assert batched.argmax_ids == single.argmax_ids
        assert batched.answer_logprob == pytest.approx(single.answer_logprob, abs=1e-4)


@pytest.mark.parametrize("family", FAMILIES)
def test_score_runs_one_forward_pass_per_image_count_group(adapters, family):
    adapter = adapters[family]
    calls = []
    handle = adapter.model.register_forward_hook(lambda *_: calls.append(1))
    try:
        adapter.score(mixed_probes(), batch_size=16)
    finally:
        handle.remove()
    assert len(calls) == 4  # 0, 1, 2 and 3 images


@pytest.mark.parametrize("family", FAMILIES)
def test_labels_mark_exactly_the_answer_tokens_never_image_placeholders(adapters, family):
    adapter = adapters[family]
    probes = mixed_probes()
    batch = adapter.encode(probes)
    image_id = adapter.processor.image_token_id
    for row, probe in enumerate(probes):
        positions = (batch["labels"][row] != IGNORE).nonzero().flatten()
        answer = adapter.answer_ids(probe)
        assert batch["labels"][row, positions].tolist() == answer
        assert batch["input_ids"][row, positions].tolist() == answer
        assert image_id not in batch["input_ids"][row, positions].tolist()
        assert batch["attention_mask"][row, : positions.max() + 1].all()
        assert not batch["attention_mask"][row, positions.max() + 1 :].any()
        in_context = adapter.tokenizer(
            adapter.prompt_text(probe) + probe.answer, add_special_tokens=False
        )["input_ids"]
        assert in_context[-len(answer) :] == answer


@pytest.mark.parametrize("family", FAMILIES)
def test_scores_are_consistent_with_their_argmax(adapters, family):
    for score in adapters[family].score(mixed_probes()):
        hits = [a == g for a, g in zip(score.answer_ids, score.argmax_ids, strict=True)]
        assert score.token_accuracy == pytest.approx(sum(hits) / len(hits))
        assert score.exact_match == all(hits)
        assert score.answer_logprob < 0


def test_training_on_the_loss_reaches_exact_match(tiny_family_dirs):
    adapter = load_vlm(str(tiny_family_dirs["qwen2-vl"]))
    probe = Probe((random_image(9),), "What organ is shown in this image?", "B", OPTIONS)
    before = adapter.score([probe])[0]
    optimizer = torch.optim.Adam(adapter.model.parameters(), lr=3e-2)
    adapter.model.train()
    for _ in range(40):
        loss = adapter.loss([probe])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if loss.item() < 0.01:
            break
    after = adapter.score([probe])[0]
    assert adapter.model.training  # score restored the caller's mode
    assert after.exact_match and after.token_accuracy == 1.0
    assert after.answer_logprob > before.answer_logprob


@pytest.mark.parametrize("family", FAMILIES)
def test_loss_is_a_differentiable_mean_over_answer_tokens(adapters, family):
    adapter = adapters[family]
    probes = mixed_probes()[:3]
    loss = adapter.loss(probes)
    weight = adapter.get_module(adapter.module_name(-1, "mlp.down")).weight
    (grad,) = torch.autograd.grad(loss, weight)
    assert grad.abs().sum() > 0
    scores = adapter.score(probes)
    tokens = sum(len(s.answer_ids) for s in scores)
    assert loss.item() == pytest.approx(-sum(s.answer_logprob for s in scores) / tokens, rel=1e-4)


@pytest.mark.parametrize("family", FAMILIES)
def test_active_labels_are_set_during_forward_and_none_after(adapters, family):
    adapter = adapters[family]
    seen: list[torch.Tensor | None] = []
    module = adapter.get_module(adapter.module_name(0, "mlp.down"))
    handle = module.register_forward_hook(lambda *_: seen.append(adapter.active_labels))
    try:
        probes = mixed_probes()[:2]
        adapter.score(probes)
        scored = len(seen)
        adapter.loss(probes[:1])
        text = adapter.generate(probes[0], max_new_tokens=2)
    finally:
        handle.remove()
    assert isinstance(text, str)
    assert adapter.active_labels is None
    assert all(isinstance(labels, torch.Tensor) for labels in seen)
    assert all((labels != IGNORE).any() for labels in seen[: scored + 1])
    generate_labels = seen[scored + 1]
    assert generate_labels.shape[0] == 1 and (generate_labels == IGNORE).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_layers_are_found_by_stable_names(adapters, family):
    adapter = adapters[family]
    modules = dict(adapter.model.named_modules())
    assert adapter.num_layers == 2
    for kind in PROJECTIONS:
        name = adapter.module_name(-1, kind)
        assert name == adapter.module_name(adapter.num_layers - 1, kind)
        assert isinstance(modules[name], nn.Linear)
        assert not any(name.startswith(prefix) for prefix in adapter.vision_module_prefixes())
    assert all(prefix in modules for prefix in adapter.vision_module_prefixes())
    with pytest.raises(ValueError, match="out of range"):
        adapter.module_name(adapter.num_layers, "mlp.down")
    with pytest.raises(ValueError, match="unknown module kind"):
        adapter.module_name(0, "mlp.fc1")


def test_set_module_replaces_a_projection_in_the_forward_pass(adapters):
    adapter = load_vlm(str(Path(adapters["qwen2-vl"].model_id)))
    probe = mixed_probes()[0]
    before = adapter.score([probe])[0].answer_logprob
    name = adapter.module_name(0, "mlp.down")
    original = adapter.get_module(name)

    class Doubled(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 2 * self.inner(x)

    adapter.set_module(name, Doubled(original))
    assert adapter.get_module(name).inner is original
    assert adapter.score([probe])[0].answer_logprob != pytest.approx(before, abs=1e-6)
    adapter.set_module(name, original)
    assert adapter.score([probe])[0].answer_logprob == pytest.approx(before, abs=1e-6)
