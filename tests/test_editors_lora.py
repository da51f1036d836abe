"""LoRA / AdaLoRA through peft: adapters only on language-model projections, gone after reset."""

from __future__ import annotations

import pytest
import torch

from tests.test_editors_common import (  # noqa: F401 (single_thread_torch is autouse)
    ToyAdapter,
    case_probe,
    edited_score,
    make_case,
    make_editor,
    single_thread_torch,
    state_hashes,
    wrong_target,
)


@pytest.mark.parametrize("variant", ["lora", "adalora"])
def test_adapters_sit_on_the_chosen_projections_and_are_gone_after_reset(variant):
    adapter = ToyAdapter()
    hashes = state_hashes(adapter.model)
    editor = make_editor("lora", adapter, variant=variant, layers=[-1])
    case = wrong_target(adapter, make_case(3))
    editor.apply(case.edit())
    lora_modules = {
        n.rsplit(".lora_", 1)[0] for n, _ in adapter.model.named_parameters() if "lora_" in n
    }
    assert lora_modules == {
        "model.language_model.layers.3.self_attn.q_proj",
        "model.language_model.layers.3.self_attn.v_proj",
    }
    assert edited_score(editor, case_probe(case)).exact_match
    editor.reset()
    assert not any("lora" in n for n, _ in adapter.model.named_modules())
    assert state_hashes(adapter.model) == hashes


def test_scoring_an_edited_model_is_deterministic_despite_adapter_dropout():
    adapter = ToyAdapter()
    editor = make_editor("lora", adapter, variant="lora", dropout=0.5)
    case = wrong_target(adapter, make_case(4))
    editor.apply(case.edit())
    batch = adapter.encode([case_probe(case)])
    batch.pop("labels")
    adapter.model.eval()
    with torch.no_grad():
        first, second = adapter.model(**batch), adapter.model(**batch)
    editor.reset()
    assert torch.equal(first, second)
